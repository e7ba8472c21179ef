"""``PackPoseInputs``: the sample's image (or 2D keypoint sequence) as the model's input tensor."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform

_META_KEYS = (
    "id",
    "img_id",
    "img_path",
    "category_id",
    "crowd_index",
    "ori_shape",
    "img_shape",
    "input_size",
    "input_center",
    "input_scale",
    "flip",
    "flip_direction",
    "flip_indices",
    "raw_ann_info",
)


def image_to_tensor(img: np.ndarray) -> torch.Tensor:
    """An image (H, W, C) or (H, W) -> a contiguous (C, H, W) tensor of the same dtype."""
    if img.ndim < 3:
        return torch.from_numpy(np.ascontiguousarray(img[None]))
    return torch.from_numpy(np.stack(cv2.split(img)))  # cv2.split: one SIMD pass per channel


class PackPoseInputs(BaseTransform):
    """Set ``sample.inputs`` and drop the image and the per-sample generator.

    Images (H, W, C) become a contiguous (C, H, W) tensor of the same dtype. Lifting samples pack
    ``targets["keypoint_labels"]`` (``(K * C, T)`` with ``reshape_keypoints``), else ``keypoints`` (T, K, C).

    ``meta_keys``, ``pack_transformed`` and ``extra_mapping_labels`` (a development branch's argument
    MMPose's YOLOX-Pose tiny config names) are accepted and unused: a PoseSample keeps every field.
    """

    def __init__(
        self,
        meta_keys: tuple[str, ...] = _META_KEYS,
        pack_transformed: bool = False,
        extra_mapping_labels: dict[str, str] | None = None,
    ) -> None:
        self.meta_keys = meta_keys
        self.pack_transformed = pack_transformed
        self.extra_mapping_labels = dict(extra_mapping_labels or {})

    def __call__(self, sample: PoseSample) -> PoseSample:
        if sample.img is not None:
            sample.inputs = image_to_tensor(sample.img)
        elif sample.lifting_target is not None and sample.keypoints.size:
            labels = sample.targets.get("keypoint_labels")
            sample.inputs = torch.from_numpy(np.ascontiguousarray(labels if labels is not None else sample.keypoints))
        else:
            raise DataError(
                f"PackPoseInputs: the sample has no image and no 2D keypoint sequence to pack "
                f"(image id {sample.img_id}, annotation id {sample.id})"
            )
        sample.img = None
        sample.rng = None
        return sample
