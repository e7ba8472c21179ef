"""ED-Pose's multi-scale bottom-up augmentations: ``BottomupRandomCrop`` and ``BottomupRandomChoiceResize``.

Dimensions: N instances, K keypoints. Both move ``keypoints`` (N, K, 2) and ``bbox`` (N, 4) xyxy
into the new image's pixels and compose ``warp_mat`` (original image -> now), as MMPose's
``bottomup_transforms`` do; the crop keeps the instances whose box still meets the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.geometry import compose_warp
from posekit.transforms.rng import get_rng


class BottomupRandomCrop(BaseTransform):
    """Crop a random window of the image; instances whose box misses it are dropped.

    The window's size follows ``crop_type`` (``crop_size`` is ``(w, h)``, except for
    ``relative_range``, whose ``crop_size`` is MMPose's ``(h, w)`` minimum fractions);
    an image smaller than the window is kept whole along that side. Boxes are shifted (and
    clipped with ``bbox_clip_border``); keypoints are shifted, hidden when outside the window
    (with ``bbox_clip_border``) and clipped to it. Sets ``img``, ``img_shape``, ``warp_mat``, and
    ``input_size`` when a step before set it.

    Args:
        crop_size: ``absolute``: the window ``(w, h)`` in pixels; ``absolute_range``: ``(min, max)`` pixels of
            each side; ``relative``: ``(w, h)`` fractions of the image; ``relative_range``: ``(h, w)`` minimum
            fractions, drawn up to 1.
        crop_type: ``absolute`` (default), ``absolute_range``, ``relative`` or ``relative_range``.
        allow_negative_crop: keep a sample whose window holds no instance's box (default False: the sample is
            dropped, and the dataset draws another).
        recompute_bbox: MMPose's switch to take boxes from cropped instance masks; posekit's samples carry
            no masks, so boxes are always the shifted ones (MMPose's behaviour without masks). Default False.
        bbox_clip_border: clip boxes to the window and hide keypoints outside it (default True).
    """

    train_only = True

    example_config: ClassVar[dict[str, Any]] = {"crop_size": (32, 48), "crop_type": "absolute_range"}

    def __init__(
        self,
        crop_size: tuple[float, float],
        crop_type: Literal["absolute", "absolute_range", "relative", "relative_range"] = "absolute",
        allow_negative_crop: bool = False,
        recompute_bbox: bool = False,
        bbox_clip_border: bool = True,
    ) -> None:
        a, b = crop_size
        if crop_type.startswith("absolute"):
            if a != int(a) or b != int(b) or min(a, b) <= 0:
                raise ValueError(
                    f"BottomupRandomCrop({crop_type!r}): crop_size must be positive pixels, got {crop_size}"
                )
            if crop_type == "absolute_range" and a > b:
                raise ValueError(
                    f"BottomupRandomCrop('absolute_range'): crop_size (min, max) has min > max: {crop_size}"
                )
            crop_size = (int(a), int(b))
        elif not (0 < a <= 1 and 0 < b <= 1):
            raise ValueError(
                f"BottomupRandomCrop({crop_type!r}): crop_size must be fractions in (0, 1], got {crop_size}"
            )
        self.crop_size = crop_size
        self.crop_type = crop_type
        self.allow_negative_crop = allow_negative_crop
        self.recompute_bbox = recompute_bbox
        self.bbox_clip_border = bbox_clip_border

    def _window(self, rng: np.random.Generator, h: int, w: int) -> tuple[int, int]:
        """The window's ``(h, w)`` in pixels for an ``h x w`` image."""
        a, b = self.crop_size
        if self.crop_type == "absolute":
            return min(int(b), h), min(int(a), w)
        if self.crop_type == "absolute_range":
            crop_h = int(rng.integers(min(h, a), min(h, b) + 1))
            return crop_h, int(rng.integers(min(w, a), min(w, b) + 1))
        if self.crop_type == "relative":
            return int(h * b + 0.5), int(w * a + 0.5)
        frac_h, frac_w = np.asarray(self.crop_size, np.float32) + rng.random(2) * (1 - np.asarray(self.crop_size))
        return int(h * frac_h + 0.5), int(w * frac_w + 0.5)

    def __call__(self, sample: PoseSample) -> PoseSample | None:
        if sample.img is None:
            raise DataError(f"BottomupRandomCrop needs an image (image id {sample.img_id}); run LoadImage first")
        rng = get_rng(sample)
        h, w = sample.img.shape[:2]
        crop_h, crop_w = self._window(rng, h, w)
        top = int(rng.integers(0, max(h - crop_h, 0) + 1))
        left = int(rng.integers(0, max(w - crop_w, 0) + 1))
        img = np.ascontiguousarray(sample.img[top : top + crop_h, left : left + crop_w])
        h, w = img.shape[:2]

        bbox = sample.bbox - np.array([left, top, left, top], dtype=sample.bbox.dtype)
        if self.bbox_clip_border:
            bbox[:, 0::2] = np.clip(bbox[:, 0::2], 0, w)
            bbox[:, 1::2] = np.clip(bbox[:, 1::2], 0, h)
        keep = (bbox[:, 0] < w) & (bbox[:, 1] < h) & (bbox[:, 2] > 0) & (bbox[:, 3] > 0)
        if not keep.any() and not self.allow_negative_crop:
            return None
        sample.img = img
        sample.img_shape = (h, w)
        if any(sample.input_size):  # a later flip reads it
            sample.input_size = (w, h)
        sample.bbox = bbox
        if sample.keypoints.size:
            kpts = sample.keypoints.copy()
            kpts[..., :2] -= np.array([left, top], dtype=kpts.dtype)
            if self.bbox_clip_border and sample.keypoints_visible.size:
                outside = (kpts[..., 0] < 0) | (kpts[..., 1] < 0) | (kpts[..., 0] > w) | (kpts[..., 1] > h)
                visible = sample.keypoints_visible.copy()
                visible[outside] = 0
                sample.keypoints_visible = visible
            kpts[..., 0] = np.clip(kpts[..., 0], 0, w)
            kpts[..., 1] = np.clip(kpts[..., 1], 0, h)
            sample.keypoints = kpts
        sample.select_instances(keep)
        shift = np.array([[1, 0, -left], [0, 1, -top]], dtype=np.float32)
        sample.warp_mat = compose_warp(sample.warp_mat, shift)
        return sample


class BottomupRandomChoiceResize(BaseTransform):
    """``RandomChoiceResize`` (posekit-datasets) that also makes the resized image the model input.

    Sets what ``RandomChoiceResize`` sets, and ``input_size`` (the image's ``(w, h)``) with
    ``input_center`` / ``input_scale``: the window of the original image the input shows, from
    ``warp_mat`` (a scale and shift after crops and resizes), so predictions map back to it. With one
    scale it is a plain resize, as MMPose's ED-Pose test pipeline uses it.

    Args:
        scales: ``(w, h)`` target scales, or one scale.
        keep_ratio: fit the image inside the scale keeping its aspect ratio (default False).
        clip_object_border: clip boxes and keypoints to the resized image (default True).
        backend: ``cv2`` (default) or ``pillow``.
    """

    example_config: ClassVar[dict[str, Any]] = {"scales": [(32, 48)], "keep_ratio": True}

    def __init__(
        self,
        scales: Sequence[tuple[int, int]] | tuple[int, int],
        keep_ratio: bool = False,
        clip_object_border: bool = True,
        backend: Literal["cv2", "pillow"] = "cv2",
    ) -> None:
        from posekit.registry import build

        self.scales = scales
        self.keep_ratio = keep_ratio
        self.clip_object_border = clip_object_border
        self.backend = backend
        cfg = {"type": "RandomChoiceResize", "scales": scales, "keep_ratio": keep_ratio}
        self._resize = build("transform", {**cfg, "clip_object_border": clip_object_border, "backend": backend})

    def __call__(self, sample: PoseSample) -> PoseSample:
        sample = self._resize(sample)
        h, w = sample.img_shape
        m = sample.warp_mat  # input = diag(sx, sy) @ image + t
        factor = np.array([m[0, 0], m[1, 1]], dtype=np.float32)
        sample.input_size = (w, h)
        sample.input_scale = np.array([w, h], dtype=np.float32) / factor
        sample.input_center = 0.5 * sample.input_scale - m[:2, 2].astype(np.float32) / factor
        return sample
