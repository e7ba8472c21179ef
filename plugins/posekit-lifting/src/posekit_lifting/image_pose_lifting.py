"""ImagePoseLifting: 2D keypoints of one frame -> normalized lifter inputs and 3D targets.

Dimensions: N 2D instances, T target frames (1 here), K keypoints, D 2D coordinate dims,
C target dims (3), K' = K - 1 when the root is removed, else K.

Encoded (``encode``):

- ``keypoint_labels``: normalized 2D keypoints, ``(K * D, N)`` (``reshape_keypoints``) or ``(N, K, D)``;
  with ``concat_vis`` the visibility is appended as an extra coordinate (D + 1);
- ``keypoint_labels_visible``: ``(N, K)``;
- ``lifting_target_label``: root-relative (and normalized) 3D target ``(T, K', C)``;
- ``lifting_target_weight``: ``(T, K')``; ``trajectory_weights``: ``(T, K)``, or ``(T, C)`` without a
  target visibility (as MMPose);
- ``target_root``: the root position ``(T, C)`` in target space;
- optional ``target_root_removed`` (bool), ``target_root_index`` (int), ``keypoints_mean`` /
  ``keypoints_std`` ``(1, K, D)``, ``target_mean`` / ``target_std`` ``(1, K', C)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from posekit.codec_utils import check_array
from posekit_lifting._lifting import RootRelativeCodec, center_on_root, lifting_labels


def _stats(name: str, value: np.ndarray | Sequence[Any] | None, k: int) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.array(value, dtype=np.float32)
    if arr.size % k:
        raise ValueError(f"{name} must hold (K, ?) values with K = {k}, got shape {arr.shape}")
    return arr.reshape(1, k, -1)


class ImagePoseLifting(RootRelativeCodec):
    """Encode 2D keypoints and a 3D target for a single-frame pose lifter (MMPose's ``ImagePoseLifting``).

    Args:
        num_keypoints: K, the number of keypoints of the dataset.
        root_index: the root keypoint index (or indices, averaged). Default 0.
        remove_root: drop the root from the target (only with a single root index). Default False.
        save_index: with ``remove_root``, also return ``target_root_index``. Default False.
        reshape_keypoints: reshape ``keypoint_labels`` to ``(K * D, N)``. Default True.
        concat_vis: append keypoint visibility to ``keypoint_labels``. Default False.
        keypoints_mean: mean of the 2D keypoints in input pixels, ``(K, D)`` values; None: no normalization.
        keypoints_std: std of the 2D keypoints, ``(K, D)``; required with ``keypoints_mean``.
        target_mean: mean of the root-relative 3D target, ``(K', C)``; None: no normalization.
        target_std: std of the root-relative 3D target, ``(K', C)``; required with ``target_mean``.
        additional_encode_keys: further sample fields the pipeline passes to ``encode``.
    """

    example_config = {"num_keypoints": 17}  # a small working instance (posekit plugins --check)

    auxiliary_encode_keys: ClassVar[frozenset[str]] = frozenset({"lifting_target", "lifting_target_visible"})

    def __init__(
        self,
        num_keypoints: int,
        root_index: int | tuple[int, ...] = 0,
        remove_root: bool = False,
        save_index: bool = False,
        reshape_keypoints: bool = True,
        concat_vis: bool = False,
        keypoints_mean: np.ndarray | Sequence[Any] | None = None,
        keypoints_std: np.ndarray | Sequence[Any] | None = None,
        target_mean: np.ndarray | Sequence[Any] | None = None,
        target_std: np.ndarray | Sequence[Any] | None = None,
        additional_encode_keys: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(num_keypoints, root_index, remove_root, save_index, reshape_keypoints, concat_vis)
        if (keypoints_mean is None) != (keypoints_std is None):
            raise ValueError("keypoints_mean and keypoints_std must be given together")
        if (target_mean is None) != (target_std is None):
            raise ValueError("target_mean and target_std must be given together")
        self.keypoints_mean = _stats("keypoints_mean", keypoints_mean, num_keypoints)
        self.keypoints_std = _stats("keypoints_std", keypoints_std, num_keypoints)
        target_k = num_keypoints - 1 if remove_root else num_keypoints
        self.target_mean = _stats("target_mean", target_mean, target_k)
        self.target_std = _stats("target_std", target_std, target_k)
        for a, b in ((self.keypoints_mean, self.keypoints_std), (self.target_mean, self.target_std)):
            if a is not None and b is not None and a.shape != b.shape:
                raise ValueError(f"mean shape {a.shape} differs from std shape {b.shape}")
        if additional_encode_keys:
            self.auxiliary_encode_keys = self.auxiliary_encode_keys | set(additional_encode_keys)

    def encode(
        self,
        keypoints: np.ndarray,
        keypoints_visible: np.ndarray | None = None,
        lifting_target: np.ndarray | None = None,
        lifting_target_visible: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Normalize 2D keypoints (input pixels) and make the root-relative 3D target.

        Args:
            keypoints: 2D keypoints ``(N, K, D)`` in input pixels.
            keypoints_visible: ``(N, K)``; None: all visible.
            lifting_target: 3D target ``(T, K, C)``; None: ``keypoints[:1]``.
            lifting_target_visible: ``(T, K)``; None: all valid, trajectory weights ``1 / depth``.

        Returns:
            The dict described in the module docstring.
        """
        keypoints, keypoints_visible, lifting_target, weight, trajectory_weights = self._inputs(
            keypoints, keypoints_visible, lifting_target, lifting_target_visible
        )
        encoded: dict[str, Any] = {}
        label, weight = center_on_root(
            encoded, lifting_target, weight, self.root_index, self.remove_root, self.save_index, np.float32
        )

        keypoint_labels = keypoints.copy()
        if self.keypoints_mean is not None and self.keypoints_std is not None:
            check_array("keypoints", keypoints, ("N", *self.keypoints_mean.shape[1:]))
            encoded["keypoints_mean"] = self.keypoints_mean.copy()
            encoded["keypoints_std"] = self.keypoints_std.copy()
            keypoint_labels = (keypoint_labels - self.keypoints_mean) / self.keypoints_std
        if self.target_mean is not None and self.target_std is not None:
            check_array("lifting_target", label, ("T", *self.target_mean.shape[1:]))
            encoded["target_mean"] = self.target_mean.copy()
            encoded["target_std"] = self.target_std.copy()
            label = (label - self.target_mean) / self.target_std

        encoded.update(lifting_labels(self, keypoint_labels, keypoints_visible, label, weight, trajectory_weights))
        encoded["keypoint_labels_visible"] = keypoints_visible
        return encoded

    def _denormalize(self, keypoints: np.ndarray) -> np.ndarray:
        """Undo the ``target_mean`` / ``target_std`` normalization of ``keypoints (N, K', C)``."""
        if self.target_mean is None or self.target_std is None:
            return keypoints
        check_array("encoded", keypoints, ("N", *self.target_mean.shape[1:]))
        return keypoints * self.target_std + self.target_mean
