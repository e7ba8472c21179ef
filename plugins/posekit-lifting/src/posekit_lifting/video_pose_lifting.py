"""VideoPoseLifting: a 2D keypoint sequence -> camera-normalized lifter inputs and 3D targets.

Dimensions: N 2D frames, T target frames, K keypoints, D 2D coordinate dims, C target dims
(3), K' = K - 1 when the root is removed, else K.

The 2D keypoints (image pixels) are normalized by the camera image: ``(x - c) / (w / 2)``
with ``c = (w / 2, h / 2)``, so x spans [-1, 1].

Encoded (``encode``):

- ``keypoint_labels``: ``(K * D, N)`` (``reshape_keypoints``) or ``(N, K, D)``; channel
  ``d + D * k`` holds coordinate ``d`` of keypoint ``k``; ``concat_vis`` appends visibility;
- ``keypoints_visible``: ``(N, K)``;
- ``lifting_target_label``: ``(T, K', C)``, root-relative with ``zero_center``;
- ``lifting_target_weight``: ``(T, K')``; ``trajectory_weights``: ``(T, K)``, or ``(T, C)`` without a
  target visibility (as MMPose);
- with ``zero_center``: ``target_root (T, C)``, and with ``remove_root`` ``target_root_removed``
  (and ``target_root_index`` with ``save_index``);
- with ``normalize_camera``: ``camera_param``, the camera with ``f`` and ``c`` normalized as the keypoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from posekit_lifting._lifting import RootRelativeCodec, center_on_root, image_camera, lifting_labels


class VideoPoseLifting(RootRelativeCodec):
    """Encode a 2D keypoint sequence and a 3D target for a temporal lifter (MMPose's ``VideoPoseLifting``).

    Args:
        num_keypoints: K, the number of keypoints of the dataset.
        zero_center: make the target relative to the root keypoint. Default True.
        root_index: the root keypoint index (or indices, averaged). Default 0.
        remove_root: with ``zero_center``, drop the root from the target (single root index only). Default False.
        save_index: with ``remove_root``, also return ``target_root_index``. Default False.
        reshape_keypoints: reshape ``keypoint_labels`` to ``(K * D, N)``. Default True.
        concat_vis: append keypoint visibility to ``keypoint_labels``. Default False.
        normalize_camera: also normalize the camera's ``f`` and ``c`` and return ``camera_param``. Default False.
    """

    example_config = {"num_keypoints": 17}  # a small working instance (posekit plugins --check)

    auxiliary_encode_keys: ClassVar[frozenset[str]] = frozenset(
        {"lifting_target", "lifting_target_visible", "camera_param"}
    )

    def __init__(
        self,
        num_keypoints: int,
        zero_center: bool = True,
        root_index: int | tuple[int, ...] = 0,
        remove_root: bool = False,
        save_index: bool = False,
        reshape_keypoints: bool = True,
        concat_vis: bool = False,
        normalize_camera: bool = False,
    ) -> None:
        super().__init__(num_keypoints, root_index, remove_root, save_index, reshape_keypoints, concat_vis)
        self.zero_center = zero_center
        self.normalize_camera = normalize_camera

    @property
    def _removes_root(self) -> bool:
        return self.zero_center and super()._removes_root

    def encode(
        self,
        keypoints: np.ndarray,
        keypoints_visible: np.ndarray | None = None,
        lifting_target: np.ndarray | None = None,
        lifting_target_visible: np.ndarray | None = None,
        camera_param: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Normalize the 2D sequence by the camera image and make the (root-relative) 3D target.

        Args:
            keypoints: 2D keypoints ``(N, K, D)`` in image pixels, one row per frame.
            keypoints_visible: ``(N, K)``; None: all visible.
            lifting_target: 3D target ``(T, K, C)``; None: ``keypoints[:1]``.
            lifting_target_visible: ``(T, K)``; None: all valid, trajectory weights ``1 / depth``.
            camera_param: the camera, with image size ``w``, ``h`` (and ``f``, ``c`` ``(2, 1)`` for
                ``normalize_camera``); None: the keypoints are taken as already normalized.

        Returns:
            The dict described in the module docstring.
        """
        keypoints, keypoints_visible, lifting_target, weight, trajectory_weights = self._inputs(
            keypoints, keypoints_visible, lifting_target, lifting_target_visible
        )
        encoded: dict[str, Any] = {}
        label = lifting_target.copy()
        if self.zero_center:
            label, weight = center_on_root(
                encoded, lifting_target, weight, self.root_index, self.remove_root, self.save_index
            )

        keypoint_labels = keypoints
        if camera_param is not None:
            camera = image_camera("VideoPoseLifting", camera_param)
            center = np.array([0.5 * camera["w"], 0.5 * camera["h"]], dtype=np.float32)
            scale = np.array(0.5 * camera["w"], dtype=np.float32)
            keypoint_labels = (keypoints - center) / scale
            if self.normalize_camera:
                if "f" not in camera or "c" not in camera:
                    raise ValueError(f"normalize_camera needs camera_param 'f' and 'c', got keys {sorted(camera)}")
                camera["f"] = np.asarray(camera["f"]) / scale
                camera["c"] = (np.asarray(camera["c"]) - center[:, None]) / scale
                encoded["camera_param"] = camera
        elif self.normalize_camera:
            raise ValueError("normalize_camera needs camera_param with 'w', 'h', 'f' and 'c', got None")

        encoded.update(lifting_labels(self, keypoint_labels, keypoints_visible, label, weight, trajectory_weights))
        encoded["keypoints_visible"] = keypoints_visible
        return encoded
