"""Shared steps of the lifting codecs: input checks, root handling, keypoint packing, and
:class:`RootRelativeCodec`, the base of ``ImagePoseLifting`` and ``VideoPoseLifting``.

Dimensions: N 2D instances (frames for video lifting), T target frames, K keypoints,
D 2D coordinate dims, C target dims (3).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from posekit.codec_utils import check_array
from posekit.protocols import BaseKeypointCodec

#: MMPose's mapping of the lifting codecs' outputs to instance fields and labels (shared by every lifting codec)
INSTANCE_MAPPING: dict[str, str] = {
    "lifting_target": "lifting_target",
    "lifting_target_visible": "lifting_target_visible",
}
LABEL_MAPPING: dict[str, str] = {
    "trajectory_weights": "trajectory_weights",
    "lifting_target_label": "lifting_target_label",
    "lifting_target_weight": "lifting_target_weight",
}


def check_inputs(
    num_keypoints: int,
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray | None,
    lifting_target: np.ndarray | None,
    lifting_target_visible: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Validated ``(keypoints, keypoints_visible, lifting_target, lifting_target_visible)``.

    A missing ``keypoints_visible`` is all ones; a missing ``lifting_target`` is the first
    2D frame ``keypoints[:1]`` (as MMPose).
    """
    k = num_keypoints
    keypoints = check_array("keypoints", keypoints, ("N", k, "D"))
    n = keypoints.shape[0]
    if keypoints_visible is None:
        keypoints_visible = np.ones((n, k), dtype=np.float32)
    keypoints_visible = check_array("keypoints_visible", keypoints_visible, (n, k))
    if lifting_target is None:
        lifting_target = keypoints[:1]
    lifting_target = check_array("lifting_target", lifting_target, ("T", k, "C"))
    if lifting_target_visible is not None:
        lifting_target_visible = check_array("lifting_target_visible", lifting_target_visible, lifting_target.shape[:2])
    return keypoints, keypoints_visible, lifting_target, lifting_target_visible


def image_camera(codec: str, camera_param: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``camera_param`` (the encode may rewrite it), checked to hold the image size ``w``, ``h``."""
    camera = copy.deepcopy(dict(camera_param))
    if "w" not in camera or "h" not in camera:
        raise ValueError(f"{codec}: camera_param needs the image size 'w' and 'h', got keys {sorted(camera)}")
    return camera


def target_weights(
    lifting_target: np.ndarray, lifting_target_visible: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(lifting_target_weight (T, K), trajectory_weights)``.

    With a visibility: 1 where it exceeds 0.5, else 0 (both outputs, ``(T, K)``). Without: weights
    of ones and, as MMPose computes them, trajectory weights ``1 / lifting_target[:, 2]``: the
    reciprocal of keypoint 2's coordinates, ``(T, C)``.
    """
    if lifting_target_visible is not None:
        weight = np.where(lifting_target_visible > 0.5, 1.0, 0.0).astype(np.float32)
        return weight, weight
    weight = np.ones(lifting_target.shape[:-1], dtype=np.float32)
    return weight, 1 / lifting_target[:, 2]


def remove_root_joint(label: np.ndarray, weight: np.ndarray, root_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop keypoint ``root_index`` from ``label (T, K, C)`` and ``weight (T, K)``."""
    return np.delete(label, root_index, axis=-2), np.delete(weight, root_index, axis=-1)


def center_on_root(
    encoded: dict[str, Any],
    lifting_target: np.ndarray,
    weight: np.ndarray,
    root_index: Sequence[int],
    remove_root: bool,
    save_index: bool,
    root_dtype: type | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The root-relative target ``(T, K', C)`` and its weight ``(T, K')``; the root is the mean of ``root_index``
    (computed in ``root_dtype``; None: the target's).

    Sets ``encoded["target_root"]`` ``(T, C)`` and, when the root is removed (``remove_root`` with one
    root index), ``target_root_removed`` (and ``target_root_index`` with ``save_index``).
    """
    root = np.mean(lifting_target[..., list(root_index), :], axis=-2, dtype=root_dtype)
    label = lifting_target - root[..., None, :]
    encoded["target_root"] = root
    if remove_root and len(root_index) == 1:
        label, weight = remove_root_joint(label, weight, root_index[0])
        encoded["target_root_removed"] = True
        if save_index:
            encoded["target_root_index"] = root_index[0]
    return label, weight


def pack_keypoints(labels: np.ndarray, visible: np.ndarray, concat_vis: bool, reshape: bool) -> np.ndarray:
    """Append visibility (``concat_vis``) and reshape ``(N, K, D') -> (K * D', N)`` (``reshape``)."""
    if concat_vis:
        labels = np.concatenate((labels, visible[..., None]), axis=2)
    if reshape:
        n = labels.shape[0]
        labels = labels.transpose(1, 2, 0).reshape(-1, n)
    return labels


def lifting_labels(
    codec: Any,
    keypoint_labels: np.ndarray,
    keypoints_visible: np.ndarray,
    label: np.ndarray,
    weight: np.ndarray,
    trajectory_weights: np.ndarray,
) -> dict[str, np.ndarray]:
    """The labels every lifting codec returns: ``keypoint_labels`` (packed by :func:`pack_keypoints` as the
    ``codec``'s ``concat_vis`` and ``reshape_keypoints`` say), ``lifting_target_label (T, K', C)``,
    ``lifting_target_weight (T, K')`` and ``trajectory_weights``."""
    return {
        "keypoint_labels": pack_keypoints(
            keypoint_labels, keypoints_visible, codec.concat_vis, codec.reshape_keypoints
        ),
        "lifting_target_label": label,
        "lifting_target_weight": weight,
        "trajectory_weights": trajectory_weights,
    }


def restore_root(
    keypoints: np.ndarray, target_root: np.ndarray | None, root_index: Sequence[int], removed: bool
) -> np.ndarray:
    """Add ``target_root (N, C)`` back to root-relative ``keypoints (N, K', C)``.

    When the root was removed (``removed`` with one root index), it is re-inserted at its index.
    """
    if target_root is None:
        return keypoints
    target_root = np.asarray(target_root)
    if target_root.size == 0:
        return keypoints
    c = keypoints.shape[-1]
    if target_root.shape[-1] != c:
        raise ValueError(f"target_root must have shape (N, C) with C = {c}, got {target_root.shape}")
    root = target_root.reshape(-1, 1, c)
    keypoints = keypoints + root
    if removed and len(root_index) == 1:
        r = root_index[0]
        root = np.broadcast_to(root, (keypoints.shape[0], 1, c)).astype(keypoints.dtype)
        keypoints = np.concatenate((keypoints[:, :r], root, keypoints[:, r:]), axis=1)
    return keypoints


class RootRelativeCodec(BaseKeypointCodec):
    """What ``ImagePoseLifting`` and ``VideoPoseLifting`` share: MMPose's mapping tables, the root and packing
    settings (their constructors' arguments of the same names), the checked inputs with their weights, and
    the decoding that restores the root. Subclasses document the arguments and may undo a target
    normalization in :meth:`_denormalize`.
    """

    instance_mapping_table: ClassVar[dict[str, str]] = INSTANCE_MAPPING
    label_mapping_table: ClassVar[dict[str, str]] = LABEL_MAPPING

    def __init__(
        self,
        num_keypoints: int,
        root_index: int | tuple[int, ...],
        remove_root: bool,
        save_index: bool,
        reshape_keypoints: bool,
        concat_vis: bool,
    ) -> None:
        self.num_keypoints = num_keypoints
        self.root_index = (root_index,) if isinstance(root_index, int) else tuple(root_index)
        self.remove_root = remove_root
        self.save_index = save_index
        self.reshape_keypoints = reshape_keypoints
        self.concat_vis = concat_vis

    @property
    def _removes_root(self) -> bool:
        return self.remove_root and len(self.root_index) == 1

    def definition_keypoints(self, outputs: int) -> int:
        """The keypoints of the definition a head predicting ``outputs`` joints covers (+1: the removed root)."""
        return outputs + 1 if self._removes_root else outputs

    def _inputs(
        self,
        keypoints: np.ndarray,
        keypoints_visible: np.ndarray | None,
        lifting_target: np.ndarray | None,
        lifting_target_visible: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(keypoints, keypoints_visible, lifting_target, weight, trajectory_weights)``: :func:`check_inputs`,
        then :func:`target_weights`."""
        keypoints, keypoints_visible, lifting_target, lifting_target_visible = check_inputs(
            self.num_keypoints, keypoints, keypoints_visible, lifting_target, lifting_target_visible
        )
        return keypoints, keypoints_visible, lifting_target, *target_weights(lifting_target, lifting_target_visible)

    def _denormalize(self, keypoints: np.ndarray) -> np.ndarray:
        """Undo the target normalization of ``keypoints (N, K', C)``; none here."""
        return keypoints

    def decode(self, encoded: np.ndarray, target_root: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Undo the target normalization (if any) and add the root back.

        Args:
            encoded: predicted (root-relative) 3D keypoints ``(N, K', C)``.
            target_root: the root ``(N, C)`` (or ``(C,)``) to add back; None or empty: stay root-relative.

        Returns:
            ``keypoints (N, K, C)`` in target space (K' when no root is given) and ``scores (N, K)`` of ones.
        """
        keypoints = self._denormalize(check_array("encoded", encoded, ("N", "K'", "C")).copy())
        keypoints = restore_root(keypoints, target_root, self.root_index, self.remove_root)
        return keypoints, np.ones(keypoints.shape[:-1], dtype=np.float32)

    def decode_targets(self, encoded: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Decode ``encode``'s ``lifting_target_label`` with its ``target_root`` (when it has one)."""
        return self.decode(encoded["lifting_target_label"], encoded.get("target_root"))
