"""MMPose's colour augmentations: ``PhotometricDistortion`` and mmdet's ``YOLOXHSVRandomAug``.

Image-only, training-only (``train_only``) transforms beside ``Albumentation``: they change
``sample.img`` (uint8 BGR ``(H, W, 3)``) and nothing else, drawing from ``sample.rng``.
"""

from __future__ import annotations

import cv2
import numpy as np

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.rng import get_rng


class PhotometricDistortion(BaseTransform):
    """Random brightness, contrast, saturation, hue and channel order (each with probability 0.5).

    Order: brightness; contrast (mode 0); BGR -> HSV, saturation and/or hue, HSV -> BGR;
    contrast (mode 1); channel swap. Pixel maps use 256-entry lookup tables, equal to
    MMPose's ``clip(img * alpha + beta)`` cast to uint8. (MMPose 1.3.2's code applies the
    contrast twice in mode 1 and never in mode 0; this follows its documentation.)

    Args:
        brightness_delta: brightness offset range ``[-delta, delta]`` (default 32).
        contrast_range: contrast factor range (default (0.5, 1.5)).
        saturation_range: saturation factor range (default (0.5, 1.5)).
        hue_delta: hue offset range ``[-delta, delta)`` in OpenCV hue units (default 18).
    """

    train_only = True

    def __init__(
        self,
        brightness_delta: int = 32,
        contrast_range: tuple[float, float] = (0.5, 1.5),
        saturation_range: tuple[float, float] = (0.5, 1.5),
        hue_delta: int = 18,
    ) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_range = contrast_range
        self.saturation_range = saturation_range
        self.hue_delta = hue_delta

    @staticmethod
    def _lut(alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
        v = np.arange(256, dtype=np.float32) * np.float32(alpha) + np.float32(beta)
        return np.clip(v, 0, 255).astype(np.uint8)

    def __call__(self, sample: PoseSample) -> PoseSample:
        if sample.img is None:
            raise DataError(f"PhotometricDistortion needs an image (image id {sample.img_id}); run LoadImage first")
        rng = get_rng(sample)
        contrast_mode, brightness_flag, contrast_flag, swap_flag = rng.integers(0, 2, size=4)
        hsv_mode = int(rng.integers(0, 4))
        brightness_beta = rng.uniform(-self.brightness_delta, self.brightness_delta)
        contrast_alpha = rng.uniform(*self.contrast_range)
        saturation_alpha = rng.uniform(*self.saturation_range)
        hue_delta = int(rng.integers(-self.hue_delta, self.hue_delta))
        order = rng.permutation(3)

        img = sample.img
        if brightness_flag:
            img = cv2.LUT(img, self._lut(beta=brightness_beta))
        if contrast_flag and contrast_mode == 0:
            img = cv2.LUT(img, self._lut(alpha=contrast_alpha))
        if hsv_mode:
            hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
            if hsv_mode in (1, 3):
                hsv[..., 1] = cv2.LUT(hsv[..., 1], self._lut(alpha=saturation_alpha))
            if hsv_mode in (2, 3):
                hue_lut = ((np.arange(256) + hue_delta) % 256).astype(np.uint8)  # uint8 wrap, as MMPose
                hsv[..., 0] = cv2.LUT(hsv[..., 0], hue_lut)
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        if contrast_flag and contrast_mode == 1:
            img = cv2.LUT(img, self._lut(alpha=contrast_alpha))
        if swap_flag:
            img = np.ascontiguousarray(img[..., order])
        sample.img = img
        return sample


class YOLOXHSVRandomAug(BaseTransform):
    """Random hue, saturation and value offsets (mmdet's ``YOLOXHSVRandomAug``, in RTMPose's pipelines).

    Each of the three offsets is drawn uniformly in ``[-delta, delta]`` and kept with
    probability 0.5 (truncated to an integer); hue wraps modulo 180 (OpenCV's uint8 HSV),
    saturation and value are clipped to [0, 255]. Applied with one 3-channel lookup table.

    Args:
        hue_delta: largest hue offset (default 5).
        saturation_delta: largest saturation offset (default 30).
        value_delta: largest value offset (default 30).
    """

    train_only = True

    def __init__(self, hue_delta: int = 5, saturation_delta: int = 30, value_delta: int = 30) -> None:
        self.hue_delta = hue_delta
        self.saturation_delta = saturation_delta
        self.value_delta = value_delta

    def __call__(self, sample: PoseSample) -> PoseSample:
        if sample.img is None:
            raise DataError(f"YOLOXHSVRandomAug needs an image (image id {sample.img_id}); run LoadImage first")
        rng = get_rng(sample)
        gains = rng.uniform(-1, 1, 3) * (self.hue_delta, self.saturation_delta, self.value_delta)
        gains = (gains * rng.integers(0, 2, 3)).astype(np.int16)
        v = np.arange(256, dtype=np.int16)
        lut = np.stack([(v + gains[0]) % 180, np.clip(v + gains[1], 0, 255), np.clip(v + gains[2], 0, 255)], -1)
        hsv = cv2.cvtColor(sample.img, cv2.COLOR_BGR2HSV)
        sample.img = cv2.cvtColor(cv2.LUT(hsv, lut.astype(np.uint8).reshape(256, 1, 3)), cv2.COLOR_HSV2BGR)
        return sample
