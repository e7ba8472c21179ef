"""DecoupledHeatmap: CID's codec, coupled heatmaps for all people plus one heatmap set per person.

Wang et al., "Contextual Instance Decoupling for Robust Multi-Person Pose Estimation" (CVPR 2022).

Dimensions: N people in an image, M encoded people (N at most ``encode_max_instances``), K
keypoints, input image ``[w, h]`` = ``input_size``, heatmap ``[W, H]`` = ``heatmap_size``.

Encoded (``encode``, all people of one image, keypoints in input-image pixels):

- ``heatmaps`` ``(K + 1, H, W)``: every person's keypoints and, last, their roots; each person's
  Gaussians have a sigma from its box size (CornerNet's radius for ``heatmap_min_overlap``);
- ``instance_heatmaps`` ``(M * K, H, W)``: each encoded person's own keypoint heatmaps;
- ``keypoint_weights`` ``(M, K)``: their weights (``(0,)`` without people);
- ``instance_coords`` ``(M, 2)`` int32: each encoded person's root in heatmap pixels, jittered
  in a 3x3 grid (``np.random``, as MMPose), smallest people first, one person per pixel.

Decoded (``decode(instance_heatmaps (M, K, H, W), instance_scores (M, 1))``): ``keypoints (M, K, 2)``
in input-image pixels (heatmap maxima refined a quarter pixel towards the higher neighbour) and
``keypoint_scores (M, K)`` (maxima times the person's root score).
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Literal

import numpy as np

from posekit.codec_utils import generate_gaussian_heatmaps, get_heatmap_maximum, refine_keypoints
from posekit.protocols import BaseKeypointCodec
from posekit_bottomup.associative_embedding import as_keypoints
from posekit_bottomup.instances import diagonal_lengths, instance_roots, keypoint_boxes

#: the smallest sigma (heatmap pixels): a 3-sigma radius under half a pixel draws the peak pixel alone
MIN_SIGMA = 1e-3


def _corners(bbox: np.ndarray) -> np.ndarray:
    """``(N, 4, 2)`` corners (left-top, left-bottom, right-top, right-bottom) of xyxy boxes ``(N, 4)``,
    or MMPose's corners given as ``(N, 8)`` / ``(N, 4, 2)``."""
    if bbox.ndim == 2 and bbox.shape[1] == 4:
        x0, y0, x1, y1 = bbox.T
        return np.stack(
            [np.stack([x0, y0], -1), np.stack([x0, y1], -1), np.stack([x1, y0], -1), np.stack([x1, y1], -1)], axis=1
        )
    return bbox.reshape(-1, 4, 2)


class DecoupledHeatmap(BaseKeypointCodec):
    """Encode people into coupled and per-person heatmaps (MMPose's ``DecoupledHeatmap``, CID).

    Args:
        input_size: input image size ``(w, h)`` in pixels.
        heatmap_size: heatmap size ``(W, H)``.
        root_type: a person's root: ``'kpt_center'`` (mean of its visible keypoints) or
            ``'bbox_center'`` (center of their box). Default ``'kpt_center'``.
        heatmap_min_overlap: the overlap a Gaussian's radius keeps between boxes. Default 0.7.
        encode_max_instances: at most this many people get instance heatmaps (a random subset). Default 30.
    """

    example_config: ClassVar[dict[str, Any]] = {"input_size": (64, 64), "heatmap_size": (16, 16)}
    #: round trip within 2 heatmap pixels: MMPose's Gaussians of a fractional 3-sigma radius peak up to
    #: one pixel before the rounded keypoint, and the decoding refines a quarter pixel
    example_inputs: ClassVar[dict[str, Any]] = {"tol": 8.0}

    auxiliary_encode_keys: ClassVar[frozenset[str]] = frozenset({"bbox"})
    label_mapping_table: ClassVar[dict[str, str]] = {
        "keypoint_weights": "keypoint_weights",
        "instance_coords": "instance_coords",
    }
    field_mapping_table: ClassVar[dict[str, str]] = {
        "heatmaps": "heatmaps",
        "instance_heatmaps": "instance_heatmaps",
    }

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        root_type: Literal["kpt_center", "bbox_center"] = "kpt_center",
        heatmap_min_overlap: float = 0.7,
        encode_max_instances: int = 30,
    ) -> None:
        self.input_size = tuple(input_size)
        self.heatmap_size = tuple(heatmap_size)
        self.root_type = root_type
        self.heatmap_min_overlap = heatmap_min_overlap
        self.encode_max_instances = encode_max_instances
        self.scale_factor = (np.array(input_size) / heatmap_size).astype(np.float32)

    def _sigmas(self, corners: np.ndarray) -> np.ndarray:
        """Per-person sigma ``(N,)``: a third of CornerNet's smallest radius for the box ``corners (N, 4, 2)``.

        At least ``MIN_SIGMA``.
        """
        overlap = self.heatmap_min_overlap
        heights = np.sqrt(np.power(corners[:, 0] - corners[:, 1], 2).sum(axis=-1))
        widths = np.sqrt(np.power(corners[:, 0] - corners[:, 2], 2).sum(axis=-1))
        sigmas = np.zeros(len(corners), dtype=np.float32)
        for i, (h, w) in enumerate(zip(heights, widths, strict=True)):
            b1, c1 = h + w, w * h * (1 - overlap) / (1 + overlap)
            r1 = (b1 + np.sqrt(b1**2 - 4 * c1)) / 2
            b2, c2 = 2 * (h + w), (1 - overlap) * w * h
            r2 = (b2 + np.sqrt(b2**2 - 16 * c2)) / 2
            a3, b3, c3 = 4 * overlap, -2 * overlap * (h + w), (overlap - 1) * w * h
            r3 = (b3 + np.sqrt(b3**2 - 4 * a3 * c3)) / 2
            sigmas[i] = min(r1, r2, r3) / 3
        # a box of no size (one visible keypoint) gets the Gaussian's limit, a one-pixel peak (MMPose: NaN)
        return np.maximum(sigmas, MIN_SIGMA)

    def encode(
        self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None, bbox: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Encode every person of one image (module docstring).

        Args:
            keypoints: ``(N, K, 2)`` in input-image pixels.
            keypoints_visible: ``(N, K)``; None: all visible.
            bbox: boxes ``(N, 4)`` xyxy, or MMPose's warped corners ``(N, 8)``; None: the box of each
                person's visible keypoints.
        """
        keypoints, keypoints_visible = as_keypoints(keypoints, keypoints_visible)
        if bbox is None:
            bbox = keypoint_boxes(keypoints, keypoints_visible)
        hm_keypoints = keypoints / self.scale_factor
        corners = _corners(np.asarray(bbox, dtype=np.float32)) / self.scale_factor
        roots, roots_visible = instance_roots(hm_keypoints, keypoints_visible, self.root_type)
        sigmas = self._sigmas(corners)
        heatmaps, weights = generate_gaussian_heatmaps(
            self.heatmap_size,
            np.concatenate((hm_keypoints, roots[:, None]), axis=1),
            np.concatenate((keypoints_visible, roots_visible[:, None]), axis=1),
            sigmas,
        )
        roots_visible = weights[:, -1]
        inst_roots: list[tuple[int, int]] = []
        inst_indices: list[int] = []
        for i in np.argsort(diagonal_lengths(hm_keypoints, keypoints_visible)):
            if roots_visible[i] < 1:
                continue
            x, y = roots[i] + np.random.randint(-1, 2, (2,))
            x = max(0, min(x, self.heatmap_size[0] - 1))
            y = max(0, min(y, self.heatmap_size[1] - 1))
            if (x, y) not in inst_roots:
                inst_roots.append((x, y))
                inst_indices.append(int(i))
        if len(inst_indices) > self.encode_max_instances:
            chosen = random.sample(range(len(inst_indices)), self.encode_max_instances)
            inst_roots = [inst_roots[i] for i in chosen]
            inst_indices = [inst_indices[i] for i in chosen]
        w, h = self.heatmap_size
        if not inst_indices:
            return {
                "heatmaps": heatmaps,
                "instance_heatmaps": np.zeros((0, h, w), np.float32),
                "keypoint_weights": np.zeros(0, np.float32),
                "instance_coords": np.zeros((0, 2), np.int32),
            }
        per_person = [
            generate_gaussian_heatmaps(
                self.heatmap_size, hm_keypoints[i : i + 1], keypoints_visible[i : i + 1], float(sigmas[i])
            )
            for i in inst_indices
        ]
        return {
            "heatmaps": heatmaps,
            "instance_heatmaps": np.concatenate([p[0] for p in per_person]),
            "keypoint_weights": np.concatenate([p[1] for p in per_person]),
            "instance_coords": np.array(inst_roots, dtype=np.int32),
        }

    def decode(self, instance_heatmaps: np.ndarray, instance_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints ``(M, K, 2)`` in input-image pixels and scores ``(M, K)`` from per-person heatmaps.

        Args:
            instance_heatmaps: ``(M, K, H, W)``.
            instance_scores: the people's root scores ``(M, 1)``.
        """
        instance_heatmaps = np.asarray(instance_heatmaps)
        if not len(instance_heatmaps):
            k = instance_heatmaps.shape[1] if instance_heatmaps.ndim == 4 else 0
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        keypoints, scores = [], []
        for heatmaps in instance_heatmaps:
            heatmaps = heatmaps.copy()
            kpts, s = get_heatmap_maximum(heatmaps)
            keypoints.append(refine_keypoints(kpts[None], heatmaps))
            scores.append(s[None])
        return np.concatenate(keypoints) * self.scale_factor, np.concatenate(scores) * np.asarray(instance_scores)

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Decode the encoded people's own heatmaps (``instance_heatmaps``), root scores taken as 1."""
        k_maps = encoded["instance_heatmaps"]
        m = len(encoded["instance_coords"])
        maps = k_maps.reshape(m, -1, *k_maps.shape[1:]) if m else k_maps.reshape(0, 0, *k_maps.shape[1:])
        return self.decode(maps, np.ones((m, 1), np.float32))
