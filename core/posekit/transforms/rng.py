"""Per-sample random generators: random transforms draw only from ``sample.rng`` (:func:`get_rng`)."""

from __future__ import annotations

import numpy as np

from posekit.structures import PoseSample


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` in ``epoch`` of a run seeded with ``seed`` (``train.seed``)."""
    return np.random.default_rng(np.random.SeedSequence((seed, epoch, index)))


def get_rng(sample: PoseSample) -> np.random.Generator:
    """``sample.rng``; when the dataset set none, one drawn from numpy's global state.

    The fallback is stored in ``sample.rng`` so the rest of the pipeline continues the
    same stream, and ``np.random.seed(s)`` makes it reproducible (as in MMPose).
    """
    if sample.rng is None:
        sample.rng = np.random.default_rng(np.random.randint(0, 2**63 - 1, dtype=np.int64))
    return sample.rng


def truncnorm(rng: np.random.Generator, size: int | tuple[int, ...] = ()) -> np.ndarray:
    """Standard normal samples truncated to ``[-1, 1]`` (float32), by vectorized rejection.

    The distribution of ``scipy.stats.truncnorm.rvs(-1, 1, size)`` that MMPose draws from,
    at a fraction of its cost.
    """
    out = rng.standard_normal(size).astype(np.float32)
    flat = out.reshape(-1)
    bad = np.flatnonzero(np.abs(flat) > 1)
    while bad.size:
        flat[bad] = rng.standard_normal(bad.size)
        bad = bad[np.abs(flat[bad]) > 1]
    return out
