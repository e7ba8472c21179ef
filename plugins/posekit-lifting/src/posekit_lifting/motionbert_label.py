"""MotionBERTLabel: a 2D keypoint sequence -> MotionBERT's image-normalized inputs and 3D targets.

Dimensions: T frames (every frame is a target), K keypoints, D 2D coordinate dims, C target dims (3).

The 2D keypoints (image pixels) are normalized by the image width: ``x / w * 2 - 1`` and
``y / w * 2 - h / w``, so x spans [-1, 1]. With a camera holding ``f`` and ``c``, the 3D target
(camera space) is projected to image space first (depth scaled as x); in ``train`` mode it is
normalized like the inputs (the image size taken in thousands of pixels); it is then made
root-relative, and in ``test`` mode multiplied by the per-frame ``factor`` (image -> camera scale).

Encoded (``encode``):

- ``keypoint_labels``: ``(T, K, D)``, or ``(T, K, D + 1)`` with ``concat_vis``;
- ``keypoint_labels_visible``: ``(T, K)``;
- ``lifting_target_label`` (also under ``lifting_target``): ``(T, K, C)``;
- ``lifting_target_weight``: ``(T, K)``; ``lifting_target_visible``: ``(T, K)``;
- ``factor``: ``(T, 1)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np

from posekit.codec_utils import check_array
from posekit.protocols import BaseKeypointCodec
from posekit_lifting._lifting import INSTANCE_MAPPING, LABEL_MAPPING, check_inputs, image_camera


def camera_to_image(root_index: int, points: np.ndarray, camera: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Project camera-space ``points (T, K, 3)`` (metres) to image space, depth scaled as x.

    ``camera['f']``, ``camera['c']`` are in pixels. Returns the image-space points ``(T, K, 3)`` and
    the factor ``(T,)`` mapping image-space lengths back to camera space (a 2 m box at the root).
    """
    fx, fy = np.asarray(camera["f"]) / 1000.0
    cx, cy = np.asarray(camera["c"]) / 1000.0

    def to_pixel(p: np.ndarray) -> np.ndarray:
        xy = p[..., :2] / p[..., 2:3]
        xy[..., 0] = xy[..., 0] * fx + cx
        xy[..., 1] = xy[..., 1] * fy + cy
        return xy

    root = points[..., root_index, :]
    corner_lo, corner_hi = root.copy(), root.copy()
    corner_lo[..., :2] -= 1.0
    corner_hi[..., :2] += 1.0
    width = to_pixel(corner_hi.reshape(-1, 3))[..., 0] - to_pixel(corner_lo.reshape(-1, 3))[..., 0] + 0.001
    image = np.zeros_like(points)
    image[..., :2] = to_pixel(points.copy())
    image[..., 2] = (width / 2.0)[:, None] * (points[..., 2] - points[..., root_index : root_index + 1, 2])
    return image, 2.0 / width


class MotionBERTLabel(BaseKeypointCodec):
    """Encode a 2D sequence and its 3D target for MotionBERT (MMPose's ``MotionBERTLabel``).

    Args:
        num_keypoints: K, the number of keypoints of the dataset.
        root_index: the root keypoint index. Default 0.
        remove_root: accepted for MMPose's configs; MotionBERT keeps the root. Default False.
        save_index: accepted for MMPose's configs (used with ``remove_root`` only). Default False.
        concat_vis: append keypoint visibility to ``keypoint_labels``. Default False.
        rootrel: ``decode`` zeroes the root keypoint. Default False.
        mode: ``'train'`` (normalized targets) or ``'test'`` (targets scaled by ``factor``). Default ``'test'``.
    """

    example_config: ClassVar[dict[str, Any]] = {"num_keypoints": 17, "concat_vis": True}

    auxiliary_encode_keys: ClassVar[frozenset[str]] = frozenset(
        {"lifting_target", "lifting_target_visible", "camera_param", "factor"}
    )
    instance_mapping_table: ClassVar[dict[str, str]] = INSTANCE_MAPPING
    label_mapping_table: ClassVar[dict[str, str]] = LABEL_MAPPING

    def __init__(
        self,
        num_keypoints: int,
        root_index: int = 0,
        remove_root: bool = False,
        save_index: bool = False,
        concat_vis: bool = False,
        rootrel: bool = False,
        mode: Literal["train", "test"] = "test",
    ) -> None:
        self.num_keypoints = num_keypoints
        self.root_index = root_index
        self.remove_root = remove_root
        self.save_index = save_index
        self.concat_vis = concat_vis
        self.rootrel = rootrel
        self.mode = mode

    def definition_keypoints(self, outputs: int) -> int:
        """The keypoints of the definition: K, whatever the head's ``outputs`` (its coordinates per keypoint)."""
        return self.num_keypoints

    def encode(
        self,
        keypoints: np.ndarray,
        keypoints_visible: np.ndarray | None = None,
        lifting_target: np.ndarray | None = None,
        lifting_target_visible: np.ndarray | None = None,
        camera_param: Mapping[str, Any] | None = None,
        factor: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Normalize the 2D sequence by the image width and make the root-relative 3D target.

        Args:
            keypoints: 2D keypoints ``(T, K, D)`` in image pixels.
            keypoints_visible: ``(T, K)``; None: all visible.
            lifting_target: 3D target ``(T, K, C)`` (camera space when the camera has ``f`` and ``c``);
                None: the 2D keypoints with zero depth.
            lifting_target_visible: ``(T, K)``; None: all valid.
            camera_param: the camera, with the image size ``w``, ``h`` (and ``f``, ``c`` ``(2, 1)``);
                None: the keypoints are taken as already normalized.
            factor: ``(T,)`` image -> camera scale; None or a leading 0: the camera's own (4 without ``f``, ``c``).

        Returns:
            The dict described in the module docstring.
        """
        k = self.num_keypoints
        keypoints = check_array("keypoints", keypoints, ("T", k, "D"))
        t = keypoints.shape[0]
        if lifting_target is None:  # the 2D keypoints with zero depth
            lifting_target = np.concatenate([keypoints, np.zeros((t, k, 1), keypoints.dtype)], axis=-1)
        keypoints, keypoints_visible, lifting_target, lifting_target_visible = check_inputs(
            k, keypoints, keypoints_visible, lifting_target, lifting_target_visible
        )
        if lifting_target_visible is None:
            lifting_target_visible = np.ones(lifting_target.shape[:-1], dtype=np.float32)
            weight = lifting_target_visible
        else:
            weight = np.where(lifting_target_visible > 0.5, 1.0, 0.0).astype(np.float32)

        label = lifting_target.copy()
        labels_2d = keypoints.copy()
        camera: dict[str, Any] = {}
        if camera_param is not None:
            camera = image_camera("MotionBERTLabel", camera_param)
            w, h = camera["w"], camera["h"]
            labels_2d[..., :2] = labels_2d[..., :2] / w * 2 - [1, h / w]
        own_factor = np.array([4] * t, dtype=np.float32).reshape(t)
        if "f" in camera and "c" in camera:
            label, own_factor = camera_to_image(self.root_index, label, camera)
        if self.mode == "train" and camera_param is not None:
            w, h = camera["w"] / 1000, camera["h"] / 1000
            label[..., :2] = label[..., :2] / w * 2 - [1, h / w]
            label[..., 2] = label[..., 2] / w * 2
        label[..., :, :] = label - label[..., self.root_index : self.root_index + 1, :]
        if factor is None or np.asarray(factor).size == 0 or np.asarray(factor).reshape(-1)[0] == 0:
            factor = own_factor
        factor = np.asarray(factor)
        if factor.ndim == 1:
            factor = factor[:, None]
        if self.mode == "test":
            label *= factor[..., None]
        if self.concat_vis:
            labels_2d = np.concatenate((labels_2d, keypoints_visible[..., None]), axis=2)
        return {
            "keypoint_labels": labels_2d,
            "keypoint_labels_visible": keypoints_visible,
            "lifting_target_label": label,
            "lifting_target_weight": weight,
            "lifting_target": label,
            "lifting_target_visible": lifting_target_visible,
            "factor": factor,
        }

    def decode(
        self,
        encoded: np.ndarray,
        w: np.ndarray | None = None,
        h: np.ndarray | None = None,
        factor: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Root-relative 3D keypoints (camera units / 1000) from the network's output.

        Args:
            encoded: predicted coordinates ``(N, T, K, C)`` (or ``(N, K, C)``).
            w: image widths ``(N,)`` (or ``(N, 1)``); None or empty: no image rescaling.
            h: image heights, as ``w``.
            factor: ``(N, T)`` (or ``(N, T, 1)``) image -> camera scale; None or empty: none.

        Returns:
            ``keypoints`` as ``encoded`` and ``scores`` ``(N, [T,] K)`` of ones.
        """
        keypoints = np.array(encoded, copy=True)
        scores = np.ones(keypoints.shape[:-1], dtype=np.float32)
        if self.rootrel:
            keypoints[..., 0, :] = 0
        if w is not None and np.asarray(w).size > 0:
            w, h = np.asarray(w), np.asarray(h)
            if w.shape != h.shape or w.shape[0] != keypoints.shape[0] or w.ndim not in (1, 2):
                raise ValueError(
                    f"MotionBERTLabel.decode: w and h must be (N,) or (N, 1) with N = {keypoints.shape[0]}, "
                    f"got {w.shape} and {h.shape}"
                )
            if w.ndim == 1:
                w, h = w[:, None], h[:, None]
            shift = np.append(np.ones((w.shape[0], 1)), h / w, axis=1)[:, None, :]
            keypoints[..., :2] = (keypoints[..., :2] + shift) * w[:, None] / 2
            keypoints[..., 2:] = keypoints[..., 2:] * w[:, None] / 2
        if factor is not None and np.asarray(factor).size > 0:
            factor = np.asarray(factor)
            if factor.shape[0] != keypoints.shape[0]:
                raise ValueError(
                    f"MotionBERTLabel.decode: factor has {factor.shape[0]} rows for {keypoints.shape[0]} predictions"
                )
            keypoints *= factor[..., None]
        keypoints[..., :, :] = keypoints - keypoints[..., self.root_index : self.root_index + 1, :]
        keypoints /= 1000.0
        return keypoints, scores

    def decode_targets(self, encoded: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The encoded 2D keypoints ``(T, K, D)`` (normalized space; the camera is not part of the encoding)."""
        labels = np.asarray(encoded["keypoint_labels"])
        keypoints = labels[..., :-1] if self.concat_vis else labels
        return keypoints.copy(), np.asarray(encoded["keypoint_labels_visible"], dtype=np.float32)
