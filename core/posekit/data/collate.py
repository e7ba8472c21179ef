"""Collating pipeline samples into a :class:`~posekit.structures.PoseBatch`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from posekit.errors import DataError
from posekit.structures import PoseBatch, PoseSample


def _sample_target(sample: PoseSample, key: str) -> torch.Tensor:
    """One sample's ``targets[key]`` as a tensor; a multilevel list of L arrays stacked to ``(L, ...)``."""
    value = sample.targets[key]
    if not isinstance(value, (list, tuple)):
        return torch.as_tensor(value)
    levels = [torch.as_tensor(v) for v in value]
    shapes = sorted({tuple(v.shape) for v in levels})
    if len(shapes) > 1:
        raise DataError(
            f"pose_collate: multilevel target {key!r} of sample img_id {sample.img_id} has levels of shapes "
            f"{shapes}; levels must share one shape to be stacked"
        )
    return torch.stack(levels)


def pose_collate(samples: Sequence[PoseSample]) -> PoseBatch:
    """Stack B packed samples into a :class:`PoseBatch` (shapes there); samples keep metadata only.

    A multilevel target (``GenerateTarget(multilevel=True)``: L same-shape arrays per sample)
    becomes ``(B, L, ...)``; targets of different shapes (bottom-up instances) stay a list of B tensors.
    """
    if not samples:
        raise DataError("pose_collate: got no samples to collate")
    missing = [i for i, s in enumerate(samples) if s.inputs is None]
    if missing:
        raise DataError(
            f"pose_collate: samples {missing} (img_id {samples[missing[0]].img_id}) have no inputs; "
            "end the pipeline with PackPoseInputs"
        )
    inputs = [torch.as_tensor(s.inputs) for s in samples]
    shapes = sorted({tuple(t.shape) for t in inputs})
    if len(shapes) > 1:
        raise DataError(
            f"pose_collate: inputs of shapes {shapes} cannot be stacked into one batch; "
            "resize every sample to one input size, or use batch_size=1"
        )
    keys = list(samples[0].targets)
    for i, s in enumerate(samples):
        if set(s.targets) != set(keys):
            raise DataError(
                f"pose_collate: sample {i} (img_id {s.img_id}) has targets {sorted(s.targets)}, "
                f"sample 0 has {sorted(keys)}"
            )
    targets: dict[str, torch.Tensor | list[torch.Tensor]] = {}
    for key in keys:
        values = [_sample_target(s, key) for s in samples]
        same = len({(v.shape, v.dtype) for v in values}) == 1
        targets[key] = torch.stack(values) if same else values
    kept = [dataclasses.replace(s, img=None, inputs=None, targets={}, rng=None) for s in samples]
    return PoseBatch(inputs=torch.stack(inputs), targets=targets, samples=kept)
