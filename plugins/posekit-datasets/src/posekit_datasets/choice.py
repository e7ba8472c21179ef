"""mmcv's generic random transforms: ``RandomChoice`` (one of several sub-pipelines) and ``RandomChoiceResize``.

Dimensions: N instances, K keypoints. ``RandomChoiceResize`` scales the image to one of its
``scales`` and moves ``keypoints`` (N, K, 2), ``bbox`` (N, 4) xyxy and ``area`` (N,) with it, into the
new image's pixels; ``warp_mat`` (original image -> now) gains the scale. mmcv's ``Resize`` moves
mmdet's ``gt_bboxes``/``gt_keypoints``; under MMPose's key names (``bbox``, ``keypoints``) its
annotations would stay behind in an MMPose pipeline, which posekit does not copy. (MMPose's own
``BottomupRandomChoiceResize`` moves boxes and keypoints but leaves ``area`` in the old pixels; here
it follows the image, as in ``BottomupRandomAffine``.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import cv2
import numpy as np

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.geometry import compose_warp
from posekit.transforms.rng import get_rng
from posekit.types import TransformConfig

_CV2_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}
#: what mmcv's pillow backend takes (PIL's resampling filters of the same names)
_PILLOW_INTERPOLATION = ("nearest", "bilinear", "bicubic", "lanczos")


class RandomChoice(BaseTransform):
    """Run one sub-pipeline drawn from ``transforms`` with probabilities ``prob`` (mmcv's ``RandomChoice``).

    A step of the drawn sub-pipeline that drops the sample (returns None) drops it here too;
    a step that mixes in other samples (``needs_dataset``) is given the dataset.

    Args:
        transforms: the candidate sub-pipelines, each a list of transform configs (a single config is a
            one-step sub-pipeline).
        prob: each candidate's probability (as many as candidates, summing to 1); default None: uniform.
    """

    train_only = True
    needs_dataset = True

    example_config: ClassVar[dict[str, Any]] = {
        "transforms": [[{"type": "RandomFlip", "prob": 1.0}], [{"type": "LoadImage"}]],
        "prob": [0.5, 0.5],
    }

    def __init__(
        self,
        transforms: Sequence[TransformConfig | Sequence[TransformConfig]],
        prob: Sequence[float] | None = None,
    ) -> None:
        from posekit.registry import build

        pipelines = [list(step) if isinstance(step, (list, tuple)) else [step] for step in transforms]
        if not pipelines:
            raise ValueError("RandomChoice: transforms is empty; give at least one sub-pipeline")
        if prob is not None:
            if len(prob) != len(pipelines):
                raise ValueError(f"RandomChoice: {len(prob)} probabilities for {len(pipelines)} sub-pipelines")
            if min(prob) < 0 or not math.isclose(sum(prob), 1.0):
                raise ValueError(f"RandomChoice: prob must be >= 0 and sum to 1, got {list(prob)}")
        self.transforms = transforms
        self.prob = prob
        self._pipelines = [
            [build("transform", step, where=f"transforms[{i}][{j}]") for j, step in enumerate(pipeline)]
            for i, pipeline in enumerate(pipelines)
        ]

    def __call__(self, sample: PoseSample, dataset: Any = None) -> PoseSample | None:
        index = int(get_rng(sample).choice(len(self._pipelines), p=self.prob))
        out: PoseSample | None = sample
        for step in self._pipelines[index]:
            out = step(out, dataset=dataset) if getattr(step, "needs_dataset", False) else step(out)
            if out is None:
                return None
        return out


def rescaled_size(size: tuple[int, int], scale: tuple[int, int]) -> tuple[int, int]:
    """``(w, h)`` of an image of ``size`` ``(w, h)`` scaled by one factor, as large as fits ``scale``:
    long side at most ``max(scale)``, short side at most ``min(scale)`` (mmcv's ``rescale_size``)."""
    w, h = size
    factor = min(max(scale) / max(w, h), min(scale) / min(w, h))
    return int(w * factor + 0.5), int(h * factor + 0.5)


class RandomChoiceResize(BaseTransform):
    """Resize the image to a scale drawn uniformly from ``scales``; boxes, keypoints and areas follow.

    Sets ``img``, ``img_shape`` and ``warp_mat``; ``input_size`` when a step before set it (so a
    later flip uses the new size); keypoint coordinates and boxes are clipped to the image with
    ``clip_object_border`` (keypoint visibility unchanged, as mmcv).

    Args:
        scales: ``(w, h)`` target scales, or one scale.
        resize_type: mmcv's resize class; only ``Resize``.
        keep_ratio: keep the aspect ratio: the largest size whose long side fits ``max(scale)`` and short side
            ``min(scale)`` (default False: exactly ``scale``).
        clip_object_border: clip boxes and keypoints to the resized image (default True).
        backend: ``cv2`` (default) or ``pillow`` (uint8 images).
        interpolation: ``nearest``, ``bilinear`` (default), ``bicubic``, ``area``, ``lanczos`` (pillow: not ``area``).
    """

    example_config: ClassVar[dict[str, Any]] = {"scales": [(32, 48), (48, 64)], "keep_ratio": True}

    def __init__(
        self,
        scales: Sequence[tuple[int, int]] | tuple[int, int],
        resize_type: Literal["Resize"] = "Resize",
        keep_ratio: bool = False,
        clip_object_border: bool = True,
        backend: Literal["cv2", "pillow"] = "cv2",
        interpolation: Literal["nearest", "bilinear", "bicubic", "area", "lanczos"] = "bilinear",
    ) -> None:
        one = len(scales) == 2 and all(isinstance(s, int) for s in scales)
        self.scales = [tuple(scales)] if one else [tuple(s) for s in scales]
        if not self.scales or any(len(s) != 2 or min(s) <= 0 for s in self.scales):
            raise ValueError(f"RandomChoiceResize: scales must be positive (w, h) pairs, got {scales!r}")
        if backend == "pillow" and interpolation not in _PILLOW_INTERPOLATION:
            raise ValueError(f"RandomChoiceResize: the pillow backend has no {interpolation!r} interpolation")
        self.resize_type = resize_type
        self.keep_ratio = keep_ratio
        self.clip_object_border = clip_object_border
        self.backend = backend
        self.interpolation = interpolation

    def _resize(self, img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        if self.backend == "cv2":
            return cv2.resize(img, size, interpolation=_CV2_INTERPOLATION[self.interpolation])
        from PIL import Image

        if img.dtype != np.uint8:
            raise DataError(f"RandomChoiceResize(backend='pillow') resizes uint8 images, got {img.dtype}")
        return np.asarray(Image.fromarray(img).resize(size, getattr(Image.Resampling, self.interpolation.upper())))

    def __call__(self, sample: PoseSample) -> PoseSample:
        if sample.img is None:
            raise DataError(f"RandomChoiceResize needs an image (image id {sample.img_id}); run LoadImage first")
        h, w = sample.img.shape[:2]
        scale = self.scales[int(get_rng(sample).integers(len(self.scales)))]
        size = rescaled_size((w, h), scale) if self.keep_ratio else (int(scale[0]), int(scale[1]))
        sample.img = self._resize(sample.img, size)
        new_h, new_w = sample.img.shape[:2]
        sx, sy = new_w / w, new_h / h
        sample.img_shape = (new_h, new_w)
        if any(sample.input_size):
            sample.input_size = (new_w, new_h)
        if len(sample.bbox):
            bbox = (sample.bbox * np.array([sx, sy, sx, sy])).astype(sample.bbox.dtype)  # float64 factors, as mmcv
            if self.clip_object_border:
                bbox[:, 0::2] = np.clip(bbox[:, 0::2], 0, new_w)
                bbox[:, 1::2] = np.clip(bbox[:, 1::2], 0, new_h)
            sample.bbox = bbox
        if sample.keypoints.size:
            kpts = sample.keypoints.copy()
            kpts[..., :2] = kpts[..., :2] * np.array([sx, sy])
            if self.clip_object_border:
                kpts[..., 0] = np.clip(kpts[..., 0], 0, new_w)
                kpts[..., 1] = np.clip(kpts[..., 1], 0, new_h)
            sample.keypoints = kpts
        if len(sample.area):
            sample.area = sample.area * (sx * sy)
        sample.warp_mat = compose_warp(sample.warp_mat, np.array([[sx, 0, 0], [0, sy, 0]], dtype=np.float32))
        return sample
