"""Small batches for the conformance kit (``example_inputs``) and the tests: images with people, as the
bottom-up pipeline leaves them (input pixels) with the label codec's targets."""

from __future__ import annotations

import numpy as np
import torch

from posekit.structures import PoseBatch, PoseSample


def one_stage_sample(rng: np.random.Generator, people: int, size: int = 64, num_keypoints: int = 17) -> PoseSample:
    """One ``size`` x ``size`` input with ``people`` random people (keypoints inside their boxes)."""
    lo = rng.uniform(0, size * 0.5, (people, 2))
    wh = rng.uniform(size * 0.25, size * 0.5, (people, 2))
    bbox = np.concatenate([lo, lo + wh], axis=1).astype(np.float32)
    kpts = (lo[:, None] + rng.random((people, num_keypoints, 2)) * wh[:, None]).astype(np.float32)
    vis = (rng.random((people, num_keypoints)) > 0.2).astype(np.float32)
    return PoseSample(
        img_shape=(size, size),
        input_size=(size, size),
        input_center=np.array([size / 2, size / 2], np.float32),
        input_scale=np.array([size, size], np.float32),
        bbox=bbox,
        keypoints=kpts,
        keypoints_visible=vis,
        area=(wh[:, 0] * wh[:, 1]).astype(np.float32),
        flip_indices=list(range(num_keypoints)),
    )


def one_stage_batch(seed: int = 0, people: tuple[int, ...] = (3, 2), size: int = 64) -> PoseBatch:
    """A batch of ``len(people)`` inputs with ``bbox_labels`` targets (one list entry per image)."""
    rng = np.random.default_rng(seed)
    samples = [one_stage_sample(rng, n, size) for n in people]
    labels = [torch.zeros(n, dtype=torch.int8) for n in people]
    return PoseBatch(torch.zeros(len(people), 3, size, size), {"bbox_labels": labels}, samples)
