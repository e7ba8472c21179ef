"""Bottom-up transforms: whole-image resize and random affine, heatmap masks (MMPose's ``bottomup_transforms``).

Dimensions: N instances, K keypoints. ``BottomupRandomAffine`` moves ``keypoints``,
``bbox`` and ``area`` to input pixels in place (as MMPose); ``BottomupResize`` leaves the
annotations in image pixels and records the mapping (``input_center``, ``input_scale``,
``warp_mat``).
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import cv2
import numpy as np

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.geometry import (
    get_udp_warp_matrix,
    get_warp_matrix,
    transform_points,
    warp_affine,
)
from posekit.transforms.rng import get_rng, truncnorm

_CV2_FLIP = {"horizontal": 1, "vertical": 0, "diagonal": -1}


def get_pers_warp_matrix(
    center: np.ndarray, translate: np.ndarray, scale: float, rot: float, shear: np.ndarray
) -> np.ndarray:
    """The ``(3, 3)`` float32 perspective matrix: about ``center`` scale, rotate, shear (degrees), then translate."""
    sx, sy = math.radians(float(shear[0])), math.radians(float(shear[1]))
    a = math.radians(float(rot))
    t = np.array([[1, 0, translate[0] + center[0]], [0, 1, translate[1] + center[1]], [0, 0, 1]], dtype=np.float32)
    sh = np.array([[1, np.tan(sx), 0], [np.tan(sy), 1, 0], [0, 0, 1]], dtype=np.float32)
    r = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]], dtype=np.float32)
    s = np.array([[scale, 0, 0], [0, scale, 0], [0, 0, 1]], dtype=np.float32)
    back = np.array([[1, 0, -center[0]], [0, 1, -center[1]], [0, 0, 1]], dtype=np.float32)
    return t @ sh @ r @ s @ back


def _need_image(sample: PoseSample, who: str) -> np.ndarray:
    if sample.img is None:
        raise DataError(f"{who} needs an image (image id {sample.img_id}); run LoadImage first")
    return sample.img


class BottomupRandomAffine(BaseTransform):
    """Randomly shift, scale, rotate (and, in ``perspective`` mode, shear) the whole image to ``input_size``.

    Factors are drawn from a standard normal truncated to ``[-1, 1]`` (or uniform on it).
    ``keypoints`` (N, K, 2), ``bbox`` (N, 4, the box of the warped corners) and ``area``
    move to input pixels; ``warp_mat``, ``input_size`` and ``img_shape`` are set.

    Args:
        input_size: model input (w, h).
        shift_factor: shift up to this fraction of the image size (default 0.2).
        shift_prob: probability to shift (default 1.0).
        scale_factor: scale range ``(min, max)`` of the image size (default (0.75, 1.5)).
        scale_prob: probability to scale (default 1.0).
        scale_type: fit the aspect ratio by the ``short`` (default) or ``long`` side.
        rotate_factor: rotation up to this many degrees (default 30.0).
        rotate_prob: probability to rotate (default 1.0).
        shear_factor: shear up to this many degrees (perspective mode; default 2.0).
        shear_prob: probability to shear (default 1.0).
        use_udp: deprecated MMPose switch, same as ``transform_mode='affine_udp'`` (default False).
        pad_val: border fill value (default 0).
        distribution: ``trunc_norm`` (default) or ``uniform``.
        transform_mode: ``affine`` (default), ``affine_udp`` or ``perspective``.
        clip_border: clip keypoints and boxes to the input; keypoints outside become invisible (default False).
        bbox_keep_corner: MMPose's switch between warped corners (True) and their xyxy box (False); posekit's
            ``bbox`` is always that xyxy box, which is also what MMPose's YOLOX-Pose steps take from the corners.
    """

    train_only = True

    example_config = {"input_size": (64, 64)}  # a small working instance (posekit plugins --check)

    def __init__(
        self,
        input_size: tuple[int, int],
        shift_factor: float = 0.2,
        shift_prob: float = 1.0,
        scale_factor: tuple[float, float] = (0.75, 1.5),
        scale_prob: float = 1.0,
        scale_type: Literal["short", "long"] = "short",
        rotate_factor: float = 30.0,
        rotate_prob: float = 1.0,
        shear_factor: float = 2.0,
        shear_prob: float = 1.0,
        use_udp: bool = False,
        pad_val: float | tuple[float, float, float] = 0,
        distribution: Literal["trunc_norm", "uniform"] = "trunc_norm",
        transform_mode: Literal["affine", "affine_udp", "perspective"] = "affine",
        clip_border: bool = False,
        bbox_keep_corner: bool = True,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.bbox_keep_corner = bbox_keep_corner
        self.shift_factor = shift_factor
        self.shift_prob = shift_prob
        self.scale_factor = scale_factor
        self.scale_prob = scale_prob
        self.scale_type = scale_type
        self.rotate_factor = rotate_factor
        self.rotate_prob = rotate_prob
        self.shear_factor = shear_factor
        self.shear_prob = shear_prob
        self.use_udp = use_udp
        self.pad_val = pad_val
        self.distribution = distribution
        self.transform_mode = "affine_udp" if use_udp and transform_mode == "affine" else transform_mode
        self.clip_border = clip_border
        self._border = (float(pad_val),) * 3 if isinstance(pad_val, (int, float)) else tuple(pad_val)

    def _random(self, rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
        if self.distribution == "trunc_norm":
            return truncnorm(rng, size)
        return (rng.random(size) * 2 - 1).astype(np.float32)

    def _fix_aspect_ratio(self, scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
        w, h = scale
        by_width = (w > h * aspect_ratio) == (self.scale_type == "long")
        return np.array([w, w / aspect_ratio] if by_width else [h * aspect_ratio, h], dtype=scale.dtype)

    def __call__(self, sample: PoseSample) -> PoseSample:
        img = _need_image(sample, "BottomupRandomAffine")
        img_h, img_w = sample.img_shape
        w, h = self.input_size
        rng = get_rng(sample)
        u = rng.random(4)
        t = self._random(rng, (6,))
        offset_rate = t[:2] * self.shift_factor if u[0] < self.shift_prob else np.zeros(2, np.float32)
        lo, hi = self.scale_factor
        scale_rate = lo + (hi - lo) * (t[2] + 1) / 2 if u[1] < self.scale_prob else 1.0
        rotate = float(t[3] * self.rotate_factor) if u[2] < self.rotate_prob else 0.0
        perspective = self.transform_mode == "perspective"
        shear = t[4:6] * self.shear_factor if perspective and u[3] < self.shear_prob else np.zeros(2, np.float32)

        if perspective:
            warp_mat = get_pers_warp_matrix(
                np.array([w / 2, h / 2], dtype=np.float32), offset_rate * [w, h], float(scale_rate), rotate, shear
            )
            sample.img = cv2.warpPerspective(img, warp_mat, (w, h), borderValue=self._border)
        else:
            offset = offset_rate * [img_w, img_h]
            scale = self._fix_aspect_ratio(np.float32(scale_rate) * np.array([img_w, img_h], np.float32), w / h)
            if self.transform_mode == "affine_udp":
                center = np.array([(img_w - 1.0) / 2, (img_h - 1.0) / 2], dtype=np.float32)
                warp_mat = get_udp_warp_matrix(center + offset, scale, rotate, output_size=(w, h))
            else:
                center = np.array([img_w / 2, img_h / 2], dtype=np.float32)
                warp_mat = get_warp_matrix(center + offset, scale, rotate, output_size=(w, h))
            sample.img = warp_affine(img, warp_mat, (w, h), self._border)

        if sample.keypoints.size:
            kpts = sample.keypoints.copy()
            kpts[..., :2] = transform_points(sample.keypoints[..., :2], warp_mat)
            if self.clip_border:
                outside = (kpts[..., 0] < 0) | (kpts[..., 0] > w) | (kpts[..., 1] < 0) | (kpts[..., 1] > h)
                vis = sample.keypoints_visible.copy()
                vis[outside] = 0
                sample.keypoints_visible = vis
                kpts[..., 0] = np.clip(kpts[..., 0], 0, w - 1)
                kpts[..., 1] = np.clip(kpts[..., 1], 0, h - 1)
            sample.keypoints = kpts
        if len(sample.bbox):
            b = sample.bbox
            corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], axis=1)  # (N, 4, 2)
            corners = transform_points(corners, warp_mat)
            bbox = np.concatenate([corners.min(1), corners.max(1)], axis=1)
            if self.clip_border:
                bbox[:, 0::2] = np.clip(bbox[:, 0::2], 0, w)
                bbox[:, 1::2] = np.clip(bbox[:, 1::2], 0, h)
            sample.bbox = bbox.astype(sample.bbox.dtype, copy=False)
        if len(sample.area):
            m = warp_mat if warp_mat.shape[0] == 3 else np.vstack([warp_mat, [0.0, 0.0, 1.0]])
            sample.area = sample.area * np.linalg.det(m)
        sample.input_size = (w, h)
        sample.img_shape = (h, w)
        sample.warp_mat = warp_mat
        return sample


class BottomupResize(BaseTransform):
    """Resize the whole image into ``input_size`` keeping its aspect ratio, padding to ``size_factor`` multiples.

    ``fit`` fits the long side inside the input; ``expand`` fills the input by the short
    side and grows the input to hold the long side. Sets ``img``, ``img_shape`` (padded h, w),
    ``input_size`` (padded w, h), ``input_center`` / ``input_scale`` (image pixels; the
    decoder maps predictions back with them) and ``warp_mat``.

    Args:
        input_size: model input (w, h).
        size_factor: the padded input is a multiple of this (default 32).
        resize_mode: ``fit`` (default) or ``expand``.
        pad_val: border fill value (default (0, 0, 0)).
        use_udp: use the unbiased (UDP) warp matrix (default False).
    """

    example_config = {"input_size": (64, 64)}  # a small working instance (posekit plugins --check)

    def __init__(
        self,
        input_size: tuple[int, int],
        size_factor: int = 32,
        resize_mode: Literal["fit", "expand"] = "fit",
        pad_val: tuple[float, float, float] = (0, 0, 0),
        use_udp: bool = False,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.size_factor = size_factor
        self.resize_mode = resize_mode
        self.pad_val = pad_val
        self.use_udp = use_udp

    def _ceil(self, size: tuple[float, float]) -> tuple[int, int]:
        f = self.size_factor
        return int(np.ceil(size[0] / f) * f), int(np.ceil(size[1] / f) * f)

    def _sizes(self, img_w: int, img_h: int) -> tuple[tuple[float, float], tuple[int, int]]:
        """(resized image size, padded input size), both (w, h)."""
        ratio = img_w / img_h
        pad_w, pad_h = self._ceil(self.input_size)
        if self.resize_mode == "fit":
            if (pad_w, pad_h) != self.input_size:
                raise ValueError(
                    f"BottomupResize(resize_mode='fit'): input_size {self.input_size} must be multiples of "
                    f"size_factor {self.size_factor}"
                )
            return (min(pad_w, pad_h * ratio), min(pad_h, pad_w / ratio)), (pad_w, pad_h)
        actual = (max(pad_w, pad_h * ratio), max(pad_h, pad_w / ratio))
        return actual, self._ceil(actual)

    def __call__(self, sample: PoseSample) -> PoseSample:
        img = _need_image(sample, "BottomupResize")
        img_h, img_w = sample.ori_shape if any(sample.ori_shape) else img.shape[:2]
        actual, padded = self._sizes(img_w, img_h)
        if self.use_udp:
            center = np.array([(img_w - 1.0) / 2, (img_h - 1.0) / 2], dtype=np.float32)
            scale = np.array([img_w, img_h], dtype=np.float32)
            warp_mat = get_udp_warp_matrix(center, scale, 0, output_size=actual)
        else:
            center = np.array([img_w / 2, img_h / 2], dtype=np.float32)
            scale = np.array([img_w * padded[0] / actual[0], img_h * padded[1] / actual[1]], dtype=np.float32)
            warp_mat = get_warp_matrix(center, scale, 0, output_size=padded)
        sample.img = warp_affine(img, warp_mat, padded, self.pad_val)
        sample.img_shape = (padded[1], padded[0])
        sample.input_center = center
        sample.input_scale = scale
        sample.input_size = padded
        sample.warp_mat = warp_mat
        return sample


class BottomupGetHeatmapMask(BaseTransform):
    """``targets["heatmap_mask"]`` (H, W) bool: where the heatmap loss counts (outside ``invalid_segs``).

    The crowd / no-keypoint polygons (image pixels) are rasterized, warped by ``warp_mat``,
    flipped as the image was, resized to the heatmaps (bilinear) and thresholded at 0.5.

    Args:
        get_invalid: return the invalid region instead of the valid one (default False).
    """

    train_only = True

    def __init__(self, get_invalid: bool = False) -> None:
        self.get_invalid = get_invalid

    @staticmethod
    def _segs_to_mask(segs: list, shape: tuple[int, int]) -> np.ndarray:
        from pycocotools import mask as cocomask

        rles = []
        for seg in segs:
            rle = cocomask.frPyObjects(seg, shape[0], shape[1])
            rles.extend(rle if isinstance(rle, list) else [rle])
        if not rles:
            return np.zeros(shape, dtype=np.uint8)
        with warnings.catch_warnings():  # pycocotools' numpy 2 copy-keyword notice; the mask is unaffected
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            return cocomask.decode(cocomask.merge(rles))

    def __call__(self, sample: PoseSample) -> PoseSample:
        shape = sample.ori_shape if any(sample.ori_shape) else sample.img_shape
        mask = self._segs_to_mask(sample.invalid_segs, shape).astype(np.float32)
        if not self.get_invalid:
            mask = 1.0 - mask
        m = sample.warp_mat
        if m is not None and m.shape[0] == 3:
            mask = cv2.warpPerspective(mask, m, sample.input_size, flags=cv2.INTER_LINEAR)
        elif m is not None:
            mask = warp_affine(mask, m, sample.input_size)
        if sample.flip and sample.flip_direction is not None:
            mask = cv2.flip(mask, _CV2_FLIP[sample.flip_direction])
        heatmaps = sample.targets.get("heatmaps")
        if isinstance(heatmaps, list):
            sample.targets["heatmap_mask"] = [self._fit(mask, hm.shape[1:3]) for hm in heatmaps]
        elif heatmaps is not None:
            sample.targets["heatmap_mask"] = self._fit(mask, heatmaps.shape[1:3])
        else:
            sample.targets["heatmap_mask"] = mask > 0.5
        return sample

    @staticmethod
    def _fit(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        return cv2.resize(mask, (int(hw[1]), int(hw[0])), interpolation=cv2.INTER_LINEAR) > 0.5
