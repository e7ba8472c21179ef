"""``RandomFlipAroundRoot``: mirror 2D keypoints and 3D targets for pose lifting (MMPose's ``pose3d_transforms``)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import numpy as np
from typing_extensions import TypedDict

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.rng import get_rng


def flip_keypoints_custom_center(
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    flip_indices: Sequence[int],
    center_mode: str = "static",
    center_x: float = 0.5,
    center_index: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Swap left/right keypoints ``(..., K, D)`` and mirror x about a static x or a root joint's x."""
    if center_mode == "static":
        x_c: float | np.ndarray = center_x
    elif center_mode == "root":
        x_c = keypoints[..., center_index : center_index + 1, 0]
    else:
        raise ValueError(f"center_mode must be 'static' or 'root', got {center_mode!r}")
    flipped = keypoints[..., flip_indices, :]
    flipped[..., 0] = x_c * 2 - flipped[..., 0]
    return flipped, keypoints_visible[..., flip_indices]


class FlipCenterCfg(TypedDict, total=False):
    """Arguments of ``flip_keypoints_custom_center``: mirror about a static x or a root joint's x."""

    center_mode: Literal["static", "root"]
    center_x: float
    center_index: int


class RandomFlipAroundRoot(BaseTransform):
    """With probability ``flip_prob``, swap left/right joints and mirror x of the 2D keypoints and the 3D target.

    Without ``flip_label`` it flips ``keypoints`` / ``keypoints_visible`` and
    ``lifting_target`` (before ``GenerateTarget``); with it, the encoded
    ``targets["keypoint_labels"]``, ``["keypoint_labels_visible"]`` and
    ``["lifting_target_label"]`` (after). ``lifting_target_visible`` is swapped too.

    Args:
        keypoints_flip_cfg: mirror of the 2D keypoints, e.g. ``{"center_mode": "static", "center_x": 0.0}``.
        target_flip_cfg: mirror of the 3D target, same keys.
        flip_prob: flip probability (default 0.5).
        flip_camera: also negate the camera's horizontal center ``c[0]`` and tangential ``p[0]`` (default False).
        flip_label: flip the encoded labels instead of the raw annotations (default False).
    """

    train_only = True

    #: a small working instance (``posekit plugins --check``)
    example_config = {
        "keypoints_flip_cfg": {"center_mode": "static", "center_x": 0.0},
        "target_flip_cfg": {"center_mode": "root", "center_index": 0},
    }

    def __init__(
        self,
        keypoints_flip_cfg: FlipCenterCfg,
        target_flip_cfg: FlipCenterCfg,
        flip_prob: float = 0.5,
        flip_camera: bool = False,
        flip_label: bool = False,
    ) -> None:
        self.keypoints_flip_cfg = dict(keypoints_flip_cfg)
        self.target_flip_cfg = dict(target_flip_cfg)
        self.flip_prob = flip_prob
        self.flip_camera = flip_camera
        self.flip_label = flip_label

    def __call__(self, sample: PoseSample) -> PoseSample:
        if get_rng(sample).random() > self.flip_prob:
            return sample
        if not sample.flip_indices:
            raise DataError(
                "RandomFlipAroundRoot needs sample.flip_indices (set by the dataset from its keypoint "
                f"definition); sample id {sample.id}"
            )
        fi = sample.flip_indices
        if self.flip_label:
            kpts = sample.targets.get("keypoint_labels")
            target = sample.targets.get("lifting_target_label")
            if kpts is None or target is None:
                raise DataError("RandomFlipAroundRoot(flip_label=True) must come after GenerateTarget")
            kvis = sample.targets.get("keypoint_labels_visible")
        else:
            kpts, target, kvis = sample.keypoints, sample.lifting_target, sample.keypoints_visible
            if target is None:
                raise DataError(f"RandomFlipAroundRoot needs sample.lifting_target (sample id {sample.id})")
        if kpts.ndim < 2 or kpts.shape[-2] != len(fi):
            raise DataError(
                f"RandomFlipAroundRoot: keypoints to flip must be (..., K={len(fi)}, D); got {kpts.shape}"
                + (" (encode with reshape_keypoints=False to flip labels)" if self.flip_label else "")
            )
        if kvis is None or not kvis.size:
            kvis = np.ones(kpts.shape[:-1], dtype=np.float32)
        tvis = sample.lifting_target_visible
        if tvis is None:
            tvis = np.ones(target.shape[:-1], dtype=np.float32)
        kpts, kvis = flip_keypoints_custom_center(kpts, kvis, fi, **self.keypoints_flip_cfg)
        target, tvis = flip_keypoints_custom_center(target, tvis, fi, **self.target_flip_cfg)
        if self.flip_label:
            sample.targets["keypoint_labels"] = kpts
            sample.targets["keypoint_labels_visible"] = kvis
            sample.targets["lifting_target_label"] = target
        else:
            sample.keypoints, sample.keypoints_visible, sample.lifting_target = kpts, kvis, target
        sample.lifting_target_visible = tvis
        if self.flip_camera:
            if sample.camera_param is None or "c" not in sample.camera_param:
                raise DataError(
                    f"RandomFlipAroundRoot(flip_camera=True) needs camera_param['c'] (sample id {sample.id})"
                )
            cam = copy.deepcopy(sample.camera_param)
            cam["c"][0] *= -1
            if "p" in cam:
                cam["p"][0] *= -1
            sample.camera_param = cam
        return sample
