"""The top-down paradigm's transforms: person boxes to centers and scales, box augmentations, the crop.

Dimensions: N instances, K keypoints. ``GetBBoxCenterScale``, ``RandomHalfBody`` and
``RandomBBoxTransform`` work in image pixels (MMPose's ``common_transforms``);
``TopdownAffine`` crops each box to the model input (MMPose's ``topdown_transforms``).
"""

from __future__ import annotations

import numpy as np

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.geometry import (
    bbox_xyxy2cs,
    fix_aspect_ratio,
    get_udp_warp_matrix,
    get_warp_matrix,
    transform_points,
    warp_affine,
)
from posekit.transforms.rng import get_rng, truncnorm


class GetBBoxCenterScale(BaseTransform):
    """Boxes ``bbox (N, 4)`` xyxy -> ``bbox_center (N, 2)`` and ``bbox_scale (N, 2)`` (w, h) times ``padding``.

    As in MMPose, a sample that already has centers and scales keeps them and only
    has its scales multiplied by ``padding``.

    Args:
        padding: factor applied to the box width and height (default 1.25).
    """

    def __init__(self, padding: float = 1.25) -> None:
        self.padding = padding

    def __call__(self, sample: PoseSample) -> PoseSample:
        if len(sample.bbox_center) and len(sample.bbox_scale):
            sample.bbox_scale = sample.bbox_scale * self.padding
        elif sample.bbox.ndim == 2 and sample.bbox.shape[1] == 4:
            sample.bbox_center, sample.bbox_scale = bbox_xyxy2cs(sample.bbox, padding=self.padding)
        else:
            raise DataError(
                f"GetBBoxCenterScale: bbox must be (N, 4) xyxy, got shape {sample.bbox.shape} "
                f"(image id {sample.img_id}, annotation id {sample.id})"
            )
        return sample


class RandomHalfBody(BaseTransform):
    """With probability ``prob``, shrink an instance's box to its upper or lower body.

    Applies to instances with at least ``min_total_keypoints`` visible keypoints; the
    upper body is preferred with probability ``upper_prioritized_prob`` and a half needs
    ``min_upper_keypoints`` / ``min_lower_keypoints`` visible keypoints to be chosen.
    The new center is the mean of the half's visible keypoints and the scale their
    extent times ``padding``. Reads ``sample.upper_body_ids`` / ``lower_body_ids``.

    Args:
        min_total_keypoints: visible keypoints an instance needs (default 9).
        min_upper_keypoints: visible upper-body keypoints to use the upper half (default 2).
        min_lower_keypoints: visible lower-body keypoints to use the lower half (default 3).
        padding: factor on the half-body extent (default 1.5).
        prob: probability to apply to an eligible instance (default 0.3).
        upper_prioritized_prob: probability to prefer the upper half (default 0.7).
    """

    train_only = True

    def __init__(
        self,
        min_total_keypoints: int = 9,
        min_upper_keypoints: int = 2,
        min_lower_keypoints: int = 3,
        padding: float = 1.5,
        prob: float = 0.3,
        upper_prioritized_prob: float = 0.7,
    ) -> None:
        self.min_total_keypoints = min_total_keypoints
        self.min_upper_keypoints = min_upper_keypoints
        self.min_lower_keypoints = min_lower_keypoints
        self.padding = padding
        self.prob = prob
        self.upper_prioritized_prob = upper_prioritized_prob

    def __call__(self, sample: PoseSample) -> PoseSample:
        if sample.keypoints_visible.ndim != 2 or sample.keypoints_visible.shape[0] == 0:
            return sample
        n, k = sample.keypoints_visible.shape
        if not sample.upper_body_ids or not sample.lower_body_ids:
            raise DataError(
                "RandomHalfBody needs sample.upper_body_ids and sample.lower_body_ids (set by the dataset "
                f"from its keypoint definition); image id {sample.img_id}"
            )
        u = get_rng(sample).random((n, 2))
        vis = sample.keypoints_visible > 0
        upper = np.zeros(k, dtype=bool)
        upper[sample.upper_body_ids] = True
        lower = np.zeros(k, dtype=bool)
        lower[sample.lower_body_ids] = True
        up_vis, low_vis = vis & upper, vis & lower
        n_up, n_low = up_vis.sum(1), low_vis.sum(1)
        up_ok, low_ok = n_up >= self.min_upper_keypoints, n_low >= self.min_lower_keypoints
        apply = (sample.keypoints_visible.sum(1) >= self.min_total_keypoints) & (u[:, 0] <= self.prob)
        apply &= up_ok | low_ok
        if not apply.any():
            return sample
        use_upper = up_ok & (~low_ok | (u[:, 1] < self.upper_prioritized_prob))
        sel = np.where(use_upper[:, None], up_vis, low_vis)[apply]  # (M, K)
        xy = sample.keypoints[apply][..., :2]  # (M, K, 2)
        m = sel[..., None]
        center = (xy * m).sum(1) / sel.sum(1, keepdims=True)
        lo = np.where(m, xy, np.inf).min(1)
        hi = np.where(m, xy, -np.inf).max(1)
        bbox_center = sample.bbox_center.copy()
        bbox_scale = sample.bbox_scale.copy()
        bbox_center[apply] = center
        bbox_scale[apply] = (hi - lo) * self.padding
        sample.bbox_center, sample.bbox_scale = bbox_center, bbox_scale
        return sample


class RandomBBoxTransform(BaseTransform):
    """Randomly shift, resize and rotate the boxes (centers, scales, ``bbox_rotation``).

    Each factor is drawn from a standard normal truncated to ``[-1, 1]``.

    Args:
        shift_factor: shift up to ``shift_factor * scale`` pixels in x and y (default 0.16).
        shift_prob: probability to shift (default 0.3).
        scale_factor: resize range ``(min, max)`` (default (0.5, 1.5)).
        scale_prob: probability to resize (default 1.0).
        rotate_factor: rotation up to this many degrees (default 80.0).
        rotate_prob: probability to rotate (default 0.6).
    """

    train_only = True

    def __init__(
        self,
        shift_factor: float = 0.16,
        shift_prob: float = 0.3,
        scale_factor: tuple[float, float] = (0.5, 1.5),
        scale_prob: float = 1.0,
        rotate_factor: float = 80.0,
        rotate_prob: float = 0.6,
    ) -> None:
        self.shift_factor = shift_factor
        self.shift_prob = shift_prob
        self.scale_factor = scale_factor
        self.scale_prob = scale_prob
        self.rotate_factor = rotate_factor
        self.rotate_prob = rotate_prob

    def __call__(self, sample: PoseSample) -> PoseSample:
        n = sample.bbox_scale.shape[0]
        rng = get_rng(sample)
        t = truncnorm(rng, (n, 4))
        u = rng.random((n, 3))
        offset = np.where(u[:, :1] < self.shift_prob, t[:, :2] * np.float32(self.shift_factor), np.float32(0))
        lo, hi = self.scale_factor
        scale = t[:, 2:3] * np.float32((hi - lo) * 0.5) + np.float32((hi + lo) * 0.5)
        scale = np.where(u[:, 1:2] < self.scale_prob, scale, np.float32(1))
        rotate = np.where(u[:, 2] < self.rotate_prob, t[:, 3] * np.float32(self.rotate_factor), np.float32(0))
        sample.bbox_center = sample.bbox_center + offset * sample.bbox_scale
        sample.bbox_scale = sample.bbox_scale * scale
        sample.bbox_rotation = rotate
        return sample


class TopdownAffine(BaseTransform):
    """Warp the box (``bbox_center``, ``bbox_scale``, ``bbox_rotation``) to ``input_size``, bilinear.

    The box scale is first grown to the input's aspect ratio. Sets ``img`` (h, w, C) in
    input space, ``img_shape``, ``bbox_scale`` (aspect-fixed), ``input_size``,
    ``input_center``, ``input_scale``, ``warp_mat`` (image -> input) and
    ``transformed_keypoints`` (N, K, D) in input pixels; ``keypoints`` stay in image
    pixels. One instance per sample (top-down). The crop is bit-identical to MMPose's
    ``cv2.warpAffine`` on OpenCV 4.x (see :func:`~posekit.transforms.geometry.warp_affine`).

    Args:
        input_size: model input (w, h), e.g. (192, 256).
        use_udp: use the unbiased (UDP) warp matrix instead of MMPose's 3-point one (default False).
    """

    example_config = {"input_size": (48, 64)}  # a small working instance (posekit plugins --check)

    def __init__(self, input_size: tuple[int, int], use_udp: bool = False) -> None:
        if len(input_size) != 2 or min(input_size) <= 0:
            raise ValueError(f"TopdownAffine input_size must be (w, h) positive ints, got {input_size}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.use_udp = use_udp

    def __call__(self, sample: PoseSample) -> PoseSample:
        w, h = self.input_size
        if sample.bbox_center.shape[0] != 1 or sample.bbox_scale.shape[0] != 1:
            raise DataError(
                f"TopdownAffine takes one instance per sample; got bbox_center {sample.bbox_center.shape} and "
                f"bbox_scale {sample.bbox_scale.shape} (image id {sample.img_id}, annotation id {sample.id}). "
                "Run GetBBoxCenterScale first."
            )
        if sample.img is None:
            raise DataError(f"TopdownAffine needs an image (image id {sample.img_id}); run LoadImage first")
        sample.bbox_scale = fix_aspect_ratio(sample.bbox_scale, aspect_ratio=w / h)
        center, scale = sample.bbox_center[0], sample.bbox_scale[0]
        rot = sample.bbox_rotation[0] if sample.bbox_rotation.size else 0.0
        if self.use_udp:
            warp_mat = get_udp_warp_matrix(center, scale, rot, output_size=(w, h))
        else:
            warp_mat = get_warp_matrix(center, scale, rot, output_size=(w, h))
        sample.img = warp_affine(sample.img, warp_mat, (w, h))
        sample.img_shape = (h, w)
        if sample.keypoints.size:
            transformed = sample.keypoints.copy()
            transformed[..., :2] = transform_points(sample.keypoints[..., :2], warp_mat)
            sample.transformed_keypoints = transformed
        sample.input_size = (w, h)
        sample.input_center = np.asarray(center)
        sample.input_scale = np.asarray(scale)
        sample.warp_mat = warp_mat
        return sample
