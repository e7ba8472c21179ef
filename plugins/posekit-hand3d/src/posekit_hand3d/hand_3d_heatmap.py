"""Hand3DHeatmap: 3D Gaussian heatmaps, relative root depth and hand type (InterNet, InterHand2.6M).

Dimensions: N instances, K keypoints (42: right hand 0-20, left hand 21-41), D depth bins,
H x W heatmap pixels; ``heatmap_size`` is ``(W, H, D)``.

Keypoints are in input pixels for x, y and root-relative depth (mm) for z: a keypoint's depth
bin is ``(z / heatmap3d_depth_bound + 0.5) * D``.

Encoded (``encode``):

- ``heatmaps``: ``(K * D, H, W)`` Gaussians of ``sigma`` voxels, times ``max_bound``;
- ``keypoint_weights``: ``(N, K)``, the visibility, zero where the depth bin is out of range;
- ``root_depth``: ``(1,)`` the left root's depth relative to the right one, in root-heatmap bins;
  ``root_depth_weight``: ``(1,)``, its validity (zero out of ``[0, heatmap_size_root]``);
- ``type``: the hand type ``(1, 2)`` (right, left); ``type_weight``: its validity ``(1,)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from posekit.codec_utils import check_array
from posekit.protocols import BaseKeypointCodec


def gaussian_3d_heatmaps(
    heatmap_size: np.ndarray,
    keypoints: np.ndarray,
    sigma: float,
    image_size: np.ndarray,
    depth_bound: float,
) -> np.ndarray:
    """MMPose's 3D target: per instance, a cube of ``2 * 3 * sigma + 1`` voxels around each keypoint.

    Voxel coordinates are rounded and clipped into the volume and the Gaussian is evaluated at
    the clipped voxel; instances are merged by their maximum. Voxels are visited in MMPose's
    order (a ``meshgrid`` of z, y, x offsets), which decides the value where two offsets round
    to one voxel.

    Args:
        heatmap_size: ``(W, H, D)``.
        keypoints: ``(N, K, 3)``, x and y in input pixels, z root-relative.
        sigma: the Gaussian's standard deviation in voxels.
        image_size: ``(w, h)`` of the input in pixels.
        depth_bound: the depth range (mm) the D bins span.

    Returns:
        ``(K, D, H, W)`` float32.
    """
    w, h, d = heatmap_size
    k = keypoints.shape[1]
    heatmaps = np.zeros((k, d, h, w), dtype=np.float32)
    radius = sigma * 3
    offsets = np.arange(2 * radius + 1, dtype=np.float32) - radius
    oz, oy, ox = (o[None] for o in np.meshgrid(offsets, offsets, offsets))
    joint = np.broadcast_to(np.arange(k)[:, None, None, None], (k, *ox.shape[1:]))
    for kpts in keypoints:
        mu_x = (kpts[:, 0] * w / image_size[0])[:, None, None, None]
        mu_y = (kpts[:, 1] * h / image_size[1])[:, None, None, None]
        mu_z = ((kpts[:, 2] / depth_bound + 0.5) * d)[:, None, None, None]
        x = (ox + mu_x).round().clip(0, w - 1)
        y = (oy + mu_y).round().clip(0, h - 1)
        z = (oz + mu_z).round().clip(0, d - 1)
        gaussian = np.exp(-((x - mu_x) ** 2 + (y - mu_y) ** 2 + (z - mu_z) ** 2) / (2 * sigma**2))
        idx = tuple(a.astype(int).ravel() for a in (joint, z, y, x))
        heatmaps[idx] = np.maximum(heatmaps[idx], gaussian.ravel())
    return heatmaps


def heatmap_3d_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The arg-max voxel of each map: ``(K, D, H, W)`` -> ``locs (K, 3)`` (x, y, z bins), ``vals (K,)``.

    A map whose maximum is not positive gets location -1.
    """
    k, d, h, w = heatmaps.shape
    flat = heatmaps.reshape(k, -1)
    z, y, x = np.unravel_index(np.argmax(flat, axis=1), (d, h, w))
    locs = np.stack((x, y, z), axis=-1).astype(np.float32)
    vals = np.amax(flat, axis=1)
    locs[vals <= 0.0] = -1
    return locs, vals


class Hand3DHeatmap(BaseKeypointCodec):
    """3D heatmaps of the hand keypoints with the relative root depth and the hand type (MMPose's codec).

    Args:
        image_size: ``(w, h)`` of the input in pixels. Default (256, 256).
        root_heatmap_size: bins of the root-depth output decoded by :meth:`decode`. Default 64.
        heatmap_size: ``(W, H, D)`` of the 3D heatmaps. Default (64, 64, 64).
        heatmap3d_depth_bound: depth range (mm) of the D bins. Default 400.
        heatmap_size_root: bins of the encoded root depth. Default 64.
        root_depth_bound: range (mm) of the root depth. Default 400.
        depth_size: depth bins used to decode keypoint depth. Default 64.
        use_different_joint_weights: multiply the weights by the definition's joint weights. Default False.
        sigma: Gaussian standard deviation in voxels. Default 2.
        joint_indices: encode only these keypoints; None: all. Default None.
        max_bound: the heatmaps' peak value. Default 1.
    """

    auxiliary_encode_keys: ClassVar[frozenset[str]] = frozenset(
        {"dataset_keypoint_weights", "rel_root_depth", "rel_root_valid", "hand_type", "hand_type_valid"}
    )
    instance_mapping_table: ClassVar[dict[str, str]] = {
        "keypoints": "keypoints",
        "keypoints_visible": "keypoints_visible",
        "keypoints_cam": "keypoints_cam",
    }
    label_mapping_table: ClassVar[dict[str, str]] = {
        k: k for k in ("keypoint_weights", "root_depth_weight", "type_weight", "root_depth", "type")
    }
    #: a small instance for the conformance kit (``posekit plugins --check``), and its round-trip tolerance
    example_config: ClassVar[dict[str, Any]] = {
        "image_size": (64, 64),
        "heatmap_size": (16, 16, 16),
        "root_heatmap_size": 16,
        "heatmap_size_root": 16,
        "depth_size": 16,
    }
    example_inputs: ClassVar[dict[str, Any]] = {"num_keypoints": 42, "tol": 4.0}

    def __init__(
        self,
        image_size: tuple[int, int] = (256, 256),
        root_heatmap_size: int = 64,
        heatmap_size: tuple[int, int, int] = (64, 64, 64),
        heatmap3d_depth_bound: float = 400.0,
        heatmap_size_root: int = 64,
        root_depth_bound: float = 400.0,
        depth_size: int = 64,
        use_different_joint_weights: bool = False,
        sigma: float = 2,
        joint_indices: Sequence[int] | None = None,
        max_bound: float = 1.0,
    ) -> None:
        if sigma <= 0:
            raise ValueError(f"Hand3DHeatmap: sigma must be positive, got {sigma}")
        self.image_size = np.array(image_size)
        self.input_size = (int(image_size[0]), int(image_size[1]))
        self.root_heatmap_size = root_heatmap_size
        self.heatmap_size = np.array(heatmap_size)
        self.heatmap3d_depth_bound = heatmap3d_depth_bound
        self.heatmap_size_root = heatmap_size_root
        self.root_depth_bound = root_depth_bound
        self.depth_size = depth_size
        self.use_different_joint_weights = use_different_joint_weights
        self.sigma = sigma
        self.joint_indices = list(joint_indices) if joint_indices is not None else None
        self.max_bound = max_bound
        self.scale_factor = (np.array(image_size) / np.array(heatmap_size)[:-1]).astype(np.float32)

    def encode(
        self,
        keypoints: np.ndarray,
        keypoints_visible: np.ndarray | None = None,
        dataset_keypoint_weights: np.ndarray | None = None,
        rel_root_depth: float = 0.0,
        rel_root_valid: float = 0.0,
        hand_type: np.ndarray | None = None,
        hand_type_valid: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Targets of one sample (see the module docstring for the keys and shapes).

        Args:
            keypoints: ``(N, K, 3)`` (x, y input pixels; z root-relative mm); ``(N, K, 2)`` means z = 0.
            keypoints_visible: ``(N, K)``; None: all visible.
            dataset_keypoint_weights: ``(K,)``, used with ``use_different_joint_weights``.
            rel_root_depth: left root depth minus right root depth (mm).
            rel_root_valid: its validity (0 or 1); default 0 (no root-depth target).
            hand_type: ``(1, 2)`` (right, left) labels; None: zeros.
            hand_type_valid: ``(1,)`` validity; None: 0 (no hand-type target).
        """
        keypoints = check_array("keypoints", keypoints, ("N", "K", "D"))
        if keypoints.shape[-1] not in (2, 3):
            raise ValueError(f"Hand3DHeatmap.encode: keypoints must be (N, K, 2) or (N, K, 3), got {keypoints.shape}")
        if keypoints.shape[-1] == 2:
            keypoints = np.concatenate([keypoints, np.zeros_like(keypoints[..., :1])], axis=-1)
        visible = (
            np.ones(keypoints.shape[:-1], np.float32)
            if keypoints_visible is None
            else check_array("keypoints_visible", keypoints_visible, keypoints.shape[:2])
        )
        if self.joint_indices is not None:
            keypoints, visible = keypoints[:, self.joint_indices], visible[:, self.joint_indices]
        if self.use_different_joint_weights and dataset_keypoint_weights is None:
            raise ValueError("Hand3DHeatmap: use_different_joint_weights=True needs dataset_keypoint_weights")
        w, h, d = self.heatmap_size
        heatmaps = gaussian_3d_heatmaps(
            self.heatmap_size, keypoints, self.sigma, self.image_size, self.heatmap3d_depth_bound
        )
        mu_z = (keypoints[..., 2] / self.heatmap3d_depth_bound + 0.5) * d
        weights = visible.copy() * (mu_z >= 0) * (mu_z < d)
        if self.use_different_joint_weights:
            weights = weights * np.asarray(dataset_keypoint_weights)
        root = (rel_root_depth / self.root_depth_bound + 0.5) * self.heatmap_size_root
        root_valid = rel_root_valid * (root >= 0) * (root <= self.heatmap_size_root)
        return {
            "heatmaps": (heatmaps * self.max_bound).reshape(-1, h, w),
            "keypoint_weights": weights,
            "root_depth": root * np.ones(1, dtype=np.float32),
            "type": np.zeros((1, 2), np.float32) if hand_type is None else np.asarray(hand_type),
            "type_weight": np.zeros(1, np.float32) if hand_type_valid is None else np.asarray(hand_type_valid),
            "root_depth_weight": root_valid * np.ones(1, dtype=np.float32),
        }

    def decode(
        self, heatmaps: np.ndarray, root_depth: np.ndarray, hand_type: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One sample's outputs -> keypoints in input space, as MMPose's ``decode``.

        Args:
            heatmaps: ``(K, D, H, W)``.
            root_depth: ``(1,)`` the root head's soft-argmax bin.
            hand_type: ``(2,)`` hand-type logits.

        Returns:
            ``keypoints (1, K, 3)`` (x, y input pixels; z root-relative mm), ``scores (1, K)``,
            ``rel_root_depth (1,)`` (mm) and ``hand_type (1, 2)`` (0/1 int labels).
        """
        locs, vals = heatmap_3d_maximum(np.array(heatmaps, copy=True))
        locs[..., 2] = (locs[..., 2] / self.depth_size - 0.5) * self.heatmap3d_depth_bound
        keypoints, scores = locs[None], vals[None]
        keypoints[..., :2] = keypoints[..., :2] * self.scale_factor
        rel_root_depth = (root_depth / self.root_heatmap_size - 0.5) * self.root_depth_bound
        return keypoints, scores, rel_root_depth, (hand_type > 0).reshape(1, -1).astype(int)

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints ``(1, K, 3)`` and scores ``(1, K)`` of :meth:`encode`'s heatmaps (one instance)."""
        _, h, w = encoded["heatmaps"].shape
        heatmaps = encoded["heatmaps"].reshape(-1, int(self.heatmap_size[2]), h, w)
        keypoints, scores, _, _ = self.decode(heatmaps, np.zeros(1, np.float32), np.zeros(2, np.float32))
        return keypoints, scores
