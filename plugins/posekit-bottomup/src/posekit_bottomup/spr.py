"""SPR: Structured Pose Representation (DEKR's codec): root heatmaps and dense displacements.

Nie et al., "Single-Stage Multi-Person Pose Machines" (ICCV 2019), https://arxiv.org/abs/1908.09220.

Dimensions: N people in an image, K keypoints, M decoded people, input image ``[w, h]`` =
``input_size``, heatmap ``[W, H]`` = ``heatmap_size``.

Encoded (``encode``, all people of one image, keypoints in input-image pixels):

- ``heatmaps`` ``(1, H, W)``: a Gaussian at each person's root; with
  ``generate_keypoint_heatmaps`` ``(K+1, H, W)``, keypoint heatmaps first, root last;
- ``heatmap_weights``: same shape, 1 on positive pixels, ``background_weight`` elsewhere;
- ``displacements`` ``(2K, H, W)``: around each root, channel ``2k + d`` holds coordinate
  ``d`` of (keypoint ``k`` - pixel), in heatmap pixels (the smaller person wins overlaps);
- ``displacement_weights`` ``(2K, H, W)``: ``1 / diagonal length`` where a displacement is set.

Decoded (``decode(heatmaps, displacements)``): ``keypoints (M, K, 2)`` in input-image pixels
and ``(root_scores (M,), keypoint_scores (M, K) or None)``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from posekit.codec_utils import generate_gaussian_heatmaps
from posekit.protocols import BaseKeypointCodec
from posekit_bottomup.associative_embedding import as_array, as_keypoints
from posekit_bottomup.instances import batch_heatmap_nms, diagonal_lengths, instance_roots, odd_kernel


class SPR(BaseKeypointCodec):
    """Root heatmaps and keypoint displacement fields (MMPose's ``SPR``, used by DEKR).

    Args:
        input_size: input image size ``(w, h)`` in pixels.
        heatmap_size: heatmap size ``(W, H)``.
        sigma: root Gaussian sigma (and keypoint sigma, as a pair, with ``generate_keypoint_heatmaps``),
            in heatmap pixels; None: ``sqrt(W * H) / 32`` (keypoints: half of it, floored).
        generate_keypoint_heatmaps: also make a Gaussian heatmap per keypoint. Default False.
        root_type: ``kpt_center`` (mean of visible keypoints) or ``bbox_center`` (centre of their box).
        minimal_diagonal_length: people with a smaller keypoint-box diagonal (heatmap pixels) are ignored. Default 5.
        background_weight: heatmap loss weight of background pixels. Default 0.1.
        decode_nms_kernel: odd max-pool kernel of the root heatmap NMS. Default 5.
        decode_max_instances: the most people decoded per image. Default 30.
        decode_thr: roots must exceed this heatmap value. Default 0.01.
    """

    example_config = {"input_size": (256, 256), "heatmap_size": (64, 64)}  # posekit plugins --check

    field_mapping_table = {
        "heatmaps": "heatmaps",
        "heatmap_weights": "heatmap_weights",
        "displacements": "displacements",
        "displacement_weights": "displacement_weights",
    }

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        sigma: float | tuple[float, ...] | None = None,
        generate_keypoint_heatmaps: bool = False,
        root_type: Literal["kpt_center", "bbox_center"] = "kpt_center",
        minimal_diagonal_length: float = 5,
        background_weight: float = 0.1,
        decode_nms_kernel: int = 5,
        decode_max_instances: int = 30,
        decode_thr: float = 0.01,
    ) -> None:
        self.input_size = input_size
        self.heatmap_size = heatmap_size
        self.generate_keypoint_heatmaps = generate_keypoint_heatmaps
        self.root_type = root_type
        self.minimal_diagonal_length = minimal_diagonal_length
        self.background_weight = background_weight
        self.decode_nms_kernel = odd_kernel("decode_nms_kernel", decode_nms_kernel)
        self.decode_max_instances = decode_max_instances
        self.decode_thr = decode_thr
        self.scale_factor = (np.array(input_size) / heatmap_size).astype(np.float32)
        if sigma is None:
            root_sigma = (heatmap_size[0] * heatmap_size[1]) ** 0.5 / 32
            self.sigma: tuple[float, ...] = (
                (root_sigma, root_sigma // 2) if generate_keypoint_heatmaps else (root_sigma,)
            )
        else:
            self.sigma = tuple(sigma) if isinstance(sigma, tuple) else (sigma,)
            if generate_keypoint_heatmaps and len(self.sigma) != 2:
                raise ValueError(
                    f"sigma must be a (root, keypoint) pair with generate_keypoint_heatmaps, e.g. (4, 2); got {sigma}"
                )

    def _heatmap_weights(self, heatmaps: np.ndarray) -> np.ndarray:
        return np.where(heatmaps > 0, 1.0, self.background_weight).astype(np.float32)

    def _displacements(
        self,
        keypoints: np.ndarray,
        visible: np.ndarray,
        roots: np.ndarray,
        roots_visible: np.ndarray,
        diagonals: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Displacement fields ``(2K, H, W)`` and weights around each root (heatmap pixels)."""
        n, k = keypoints.shape[:2]
        w, h = self.heatmap_size
        radius = self.sigma[0]
        disp = np.zeros((k, 2, h, w), dtype=np.float32)
        weights = np.zeros((k, 2, h, w), dtype=np.float32)
        size_map = np.zeros((h, w), dtype=np.float32)
        grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)))  # (2, H, W): x, y
        inside = (keypoints[..., 0] >= 0) & (keypoints[..., 1] >= 0) & (keypoints[..., 0] < w) & (keypoints[..., 1] < h)
        for i in range(n):
            rx, ry = roots[i]
            if roots_visible[i] < 1 or not (0 <= rx < w and 0 <= ry < h):
                continue
            ks = np.flatnonzero((visible[i] >= 1) & inside[i])
            ys = slice(max(int(ry - radius), 0), min(int(ry + radius), h))
            xs = slice(max(int(rx - radius), 0), min(int(rx + radius), w))
            if not len(ks) or ys.start >= ys.stop or xs.start >= xs.stop:
                continue
            region = disp[ks, :, ys, xs]
            sizes = size_map[ys, xs]
            # a pixel keeps a smaller person's displacement until this person writes any keypoint there
            keep = (region != 0).any(axis=1) & (diagonals[i] > sizes)
            write = np.logical_or.accumulate(~keep, axis=0)[:, None]
            new = (keypoints[i, ks, :, None, None].astype(np.float64) - grid[:, ys, xs]).astype(np.float32)
            disp[ks, :, ys, xs] = np.where(write, new, region)
            weights[ks, :, ys, xs] = np.where(write, np.float32(1) / diagonals[i], weights[ks, :, ys, xs])
            size_map[ys, xs] = np.where(write.any(axis=0)[0], diagonals[i], sizes)
        return disp.reshape(2 * k, h, w), weights.reshape(2 * k, h, w)

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Encode all people of one image into root heatmaps and displacement fields.

        Args:
            keypoints: ``(N, K, 2)`` in input-image pixels.
            keypoints_visible: ``(N, K)``; None: all visible.

        Returns:
            ``heatmaps``, ``heatmap_weights``, ``displacements``, ``displacement_weights`` (see the module docstring).
        """
        keypoints, keypoints_visible = as_keypoints(keypoints, keypoints_visible)
        hm_keypoints = keypoints / self.scale_factor
        roots, roots_visible = instance_roots(hm_keypoints, keypoints_visible, self.root_type)
        diagonals = diagonal_lengths(hm_keypoints, keypoints_visible)
        roots_visible[diagonals < self.minimal_diagonal_length] = 0
        heatmaps, _ = generate_gaussian_heatmaps(
            heatmap_size=self.heatmap_size,
            keypoints=roots[:, None],
            keypoints_visible=roots_visible[:, None],
            sigma=self.sigma[0],
        )
        if self.generate_keypoint_heatmaps:
            keypoint_heatmaps, _ = generate_gaussian_heatmaps(
                heatmap_size=self.heatmap_size,
                keypoints=hm_keypoints,
                keypoints_visible=keypoints_visible,
                sigma=self.sigma[1],
            )
            heatmaps = np.concatenate((keypoint_heatmaps, heatmaps), axis=0)
        displacements, displacement_weights = self._displacements(
            hm_keypoints, keypoints_visible, roots, roots_visible, diagonals
        )
        return {
            "heatmaps": heatmaps,
            "heatmap_weights": self._heatmap_weights(heatmaps),
            "displacements": displacements,
            "displacement_weights": displacement_weights,
        }

    def decode(self, heatmaps: Any, displacements: Any) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray | None]]:
        """Decode one image: people at the root heatmap's peaks, keypoints from the displacements there.

        Args:
            heatmaps: ``(1, H, W)`` root heatmap or ``(K+1, H, W)`` keypoint and root heatmaps (array or tensor).
            displacements: ``(2K, H, W)`` displacement fields in heatmap pixels.

        Returns:
            ``keypoints (M, K, 2)`` in input-image pixels and ``(root_scores (M,), keypoint_scores (M, K))``;
            ``keypoint_scores`` is None without keypoint heatmaps.
        """
        heatmaps = as_array("heatmaps", heatmaps, ("1 or K+1", "H", "W"))
        _, h, w = heatmaps.shape
        displacements = as_array("displacements", displacements, ("2K", h, w))
        if displacements.shape[0] % 2:
            raise ValueError(f"displacements: expected 2K channels (x, y per keypoint), got {displacements.shape[0]}")
        k = displacements.shape[0] // 2
        grid = np.stack(np.meshgrid(np.arange(w), np.arange(h))).astype(displacements.dtype)
        posemaps = (grid[None] + displacements.reshape(k, 2, h, w)).reshape(k, 2, h * w)
        peaks = batch_heatmap_nms(heatmaps[None, -1:], self.decode_nms_kernel).reshape(-1)
        order = np.argsort(-peaks, kind="stable")[: self.decode_max_instances]
        order = order[peaks[order] > self.decode_thr]
        root_scores = peaks[order]
        keypoints = posemaps[:, :, order].transpose(2, 0, 1)
        keypoint_scores = None
        if self.generate_keypoint_heatmaps and heatmaps.shape[0] == 1 + k:
            keypoint_scores = self.get_keypoint_scores(heatmaps[:k], keypoints)
        return keypoints * self.scale_factor, (root_scores, keypoint_scores)

    @staticmethod
    def get_keypoint_scores(heatmaps: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """Bilinear samples ``(M, K)`` of keypoint heatmaps ``(K, H, W)`` at ``keypoints (M, K, 2)`` (heatmap pixels).

        As MMPose: ``grid_sample`` (``align_corners=False``, border padding) at ``x / (W - 1) * 2 - 1``.
        """
        import torch
        import torch.nn.functional as F

        k, h, w = heatmaps.shape
        kpts = torch.from_numpy(np.ascontiguousarray(keypoints))
        grid = torch.stack((kpts[..., 0] / (w - 1) * 2 - 1, kpts[..., 1] / (h - 1) * 2 - 1), dim=-1)
        grid = grid.transpose(0, 1).unsqueeze(1)  # (K, 1, M, 2)
        maps = torch.from_numpy(np.ascontiguousarray(heatmaps)).unsqueeze(1).to(grid.dtype)
        scores = F.grid_sample(maps, grid, padding_mode="border", align_corners=False)
        return scores.reshape(k, -1).transpose(0, 1).numpy()

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Decode ``encode``'s heatmaps and displacements: ``keypoints (M, K, 2)`` and ``scores (M, K)``.

        People come in root-score order (raster order among equal peaks); the scores are the keypoint
        heatmap samples, or each person's root score without keypoint heatmaps.
        """
        keypoints, (root_scores, keypoint_scores) = self.decode(encoded["heatmaps"], encoded["displacements"])
        if keypoint_scores is None:
            keypoint_scores = np.repeat(root_scores[:, None], keypoints.shape[1], axis=1)
        return keypoints, keypoint_scores
