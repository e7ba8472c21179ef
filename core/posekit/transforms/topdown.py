"""``TopdownAffine``: crop each person box to the model input (MMPose's ``topdown_transforms``)."""

from __future__ import annotations

import numpy as np

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.geometry import (
    fix_aspect_ratio,
    get_udp_warp_matrix,
    get_warp_matrix,
    transform_points,
    warp_affine,
)


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
