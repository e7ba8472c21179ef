"""Synthetic samples for transform tests: COCO-17 keypoints drawn as coloured dots on a noise image.

A geometric transform is right when every keypoint still sits on its own dot afterwards
(:func:`assert_dots_follow`); a seeded transform is reproducible when :func:`sample_state` of
two runs with the same ``sample.rng`` is equal (:func:`assert_seeded`). Plugins' transform tests
use these as the core's do; :func:`coco_sample` paints the dots on a shared COCO image's first person instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.geometry import bbox_xyxy2cs
from posekit.transforms.rng import sample_rng

__all__ = [
    "COCO_FLIP_INDICES",
    "assert_dots_follow",
    "assert_seeded",
    "coco_dataset",
    "coco_sample",
    "dotted_sample",
    "isolated_keypoints",
    "paint_dots",
    "sample_state",
    "seeded_sample",
]

#: COCO-17 left/right swap
COCO_FLIP_INDICES = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)


def dotted_sample(seed: int = 0, n: int = 1, size: tuple[int, int] = (160, 120)) -> PoseSample:
    """A synthetic image with one coloured dot per keypoint (N instances, COCO-17)."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    kpts = np.stack([rng.uniform((10, 10), (w - 10, h - 10), (17, 2)) for _ in range(n)]).astype(np.float32)
    kpts = np.round(kpts)
    lo, hi = kpts.min(1) - 5, kpts.max(1) + 5
    return PoseSample(
        img_id=7,
        img=img,
        img_shape=(h, w),
        ori_shape=(h, w),
        bbox=np.concatenate([lo, hi], 1).astype(np.float32),
        keypoints=kpts,
        keypoints_visible=np.ones((n, 17), np.float32),
        flip_indices=list(COCO_FLIP_INDICES),
        upper_body_ids=list(range(11)),
        lower_body_ids=list(range(11, 17)),
    )


def paint_dots(sample: PoseSample) -> PoseSample:
    """Paint keypoint k of instance 0 as a 5x5 block of a unique colour (k + 1) * 12 in channel 2."""
    for k, (x, y) in enumerate(sample.keypoints[0].astype(int)):
        sample.img[y - 2 : y + 3, x - 2 : x + 3] = (200, 0, (k + 1) * 12)
    return sample


def isolated_keypoints(keypoints: np.ndarray, min_dist: float = 7.0) -> np.ndarray:
    """(K,) bool: keypoints (K, 2) whose dots overlap no other dot."""
    d = np.linalg.norm(keypoints[:, None] - keypoints[None], axis=-1) + np.eye(len(keypoints)) * 1e9
    return d.min(1) >= min_dist


def assert_dots_follow(out: PoseSample, kpts: np.ndarray, isolated: np.ndarray, labels: list[int]) -> None:
    """Each isolated keypoint's pixel in ``out.img`` shows its dot colour (labels[k] is the dot's keypoint)."""
    h, w = out.img.shape[:2]
    for k, (x, y) in enumerate(np.round(kpts).astype(int)):
        if isolated[labels[k]] and 1 <= x < w - 1 and 1 <= y < h - 1:
            px = out.img[y, x]
            assert px[0] > 150 and abs(int(px[2]) - (labels[k] + 1) * 12) <= 6, (k, px)


def seeded_sample(seed: int, n: int = 1) -> PoseSample:
    """``dotted_sample(0, n)`` with ``sample.rng`` seeded by ``seed``."""
    sample = dotted_sample(seed=0, n=n)
    sample.rng = sample_rng(seed, 0, 0)
    return sample


def coco_dataset(shared: Path, pipeline: Sequence[dict[str, Any]], seed: int | None = None) -> Any:
    """The bottom-up ``CocoDataset`` (posekit-datasets, through the registry) of the four shared COCO images
    ``shared/data/coco/test_coco.json`` with ``pipeline``."""
    from posekit.registry import build

    cfg = {"type": "CocoDataset", "data_root": str(shared / "data" / "coco"), "ann_file": "test_coco.json"}
    return build("dataset", {**cfg, "data_mode": "bottomup", "pipeline": list(pipeline), "seed": seed})


def coco_sample(shared: Path, img_id: int, seed: int = 0) -> PoseSample:
    """The people of shared COCO image ``img_id`` in one loaded sample, instance 0 painted as dots
    (:func:`paint_dots`), ``sample.rng`` seeded by ``seed``."""
    dataset = coco_dataset(shared, [{"type": "LoadImage"}])
    index = next(i for i in range(len(dataset)) if dataset.get_data_info(i).img_id == img_id)
    sample = paint_dots(dataset[index])
    sample.rng = sample_rng(seed, 0, 0)
    return sample


def sample_state(sample: PoseSample) -> list[np.ndarray]:
    """The image, box and keypoint arrays (and the flip flag) a random transform may change."""
    fields = ("img", "bbox", "bbox_center", "bbox_scale", "bbox_rotation", "keypoints", "keypoints_visible")
    return [np.asarray(getattr(sample, f)) for f in fields if getattr(sample, f) is not None] + [
        np.asarray(sample.flip)
    ]


def assert_seeded(transform: BaseTransform, seeds: int = 6) -> None:
    """``transform`` on :func:`seeded_sample` (3 instances, boxes as centers/scales) gives the same
    :func:`sample_state` for the same seed, and not one state for all ``seeds`` seeds."""

    def run(seed: int) -> list[np.ndarray]:
        sample = seeded_sample(seed, n=3)
        sample.bbox_center, sample.bbox_scale = bbox_xyxy2cs(sample.bbox, padding=1.25)
        return sample_state(transform(sample))

    outputs = {s: run(s) for s in range(seeds)}
    for s in range(seeds):
        for a, b in zip(outputs[s], run(s), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{type(transform).__name__}: seed {s} run twice differs")
    distinct = {b"".join(x.tobytes() for x in out) for out in outputs.values()}
    assert len(distinct) > 1, f"{type(transform).__name__} gave the same output for {seeds} different seeds"
