"""Per-instance fields of a bottom-up sample: select a subset, concatenate several images' instances.

Dimensions: N instances. The fields listed in :data:`posekit.structures.INSTANCE_FIELDS` hold one row per
instance when their length is N (a field left empty by the dataset stays empty); list or
array values of ``extra`` of length N (``ids``, ``category_ids``) are per instance too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from posekit.structures import INSTANCE_FIELDS, PoseSample


def _per_instance(value: Any, n: int) -> bool:
    return isinstance(value, (list, np.ndarray)) and len(value) == n


def instances_of(sample: PoseSample) -> PoseSample:
    """A sample holding only ``sample``'s per-instance fields (and a copy of its ``extra``)."""
    return PoseSample(**{name: getattr(sample, name) for name in INSTANCE_FIELDS}, extra=dict(sample.extra))


def concat_instances(target: PoseSample, parts: Sequence[PoseSample]) -> None:
    """Set ``target``'s per-instance fields to the instances of ``parts`` in order (in place).

    A field per instance in every part is concatenated; one that is not (left empty by a
    dataset) becomes empty in ``target``.
    """
    counts = [p.num_instances for p in parts]
    for name in INSTANCE_FIELDS:
        values = [getattr(p, name) for p in parts]
        if all(_per_instance(v, n) for v, n in zip(values, counts, strict=True)):
            setattr(target, name, np.concatenate(values, axis=0))
        else:
            first = values[0]
            setattr(target, name, np.zeros((0, *np.shape(first)[1:]), dtype=np.asarray(first).dtype))
    for key, value in list(target.extra.items()):
        values = [p.extra.get(key) for p in parts]
        if not all(_per_instance(v, n) for v, n in zip(values, counts, strict=True)):
            continue
        target.extra[key] = np.concatenate(values) if isinstance(value, np.ndarray) else [x for v in values for x in v]


def clip_to_image(sample: PoseSample, size: tuple[int, int]) -> None:
    """Clip boxes to ``[0, w] x [0, h]`` and hide keypoints outside it (MMPose's border clipping; in place).

    Args:
        sample: the sample (boxes ``(N, 4)`` xyxy, keypoints ``(N, K, 2)``).
        size: ``(w, h)`` of the image.
    """
    w, h = size
    if len(sample.bbox):
        bbox = sample.bbox.copy()
        bbox[:, 0::2] = np.clip(bbox[:, 0::2], 0, w)
        bbox[:, 1::2] = np.clip(bbox[:, 1::2], 0, h)
        sample.bbox = bbox
    if sample.keypoints.size:
        k = sample.keypoints
        outside = (k[..., 0] > w) | (k[..., 0] < 0) | (k[..., 1] > h) | (k[..., 1] < 0)
        visible = sample.keypoints_visible.copy()
        visible[outside] = 0.0
        sample.keypoints_visible = visible
