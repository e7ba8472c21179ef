"""AssociativeEmbedding: bottom-up keypoint heatmaps plus grouping by embedding tags.

Newell et al., "Associative Embedding: End-to-End Learning for Joint Detection and
Grouping" (NeurIPS 2017), https://arxiv.org/abs/1611.05424.

Dimensions: B images, N people in an image, K keypoints, L tag dims, M decoded people,
input image ``[w, h]`` = ``input_size``, heatmap ``[W, H]`` = ``heatmap_size``.

Encoded (``encode``, all people of one image, keypoints in input-image pixels):

- ``heatmaps`` ``(K, H, W)``: the max over people of a Gaussian per keypoint;
- ``keypoint_indices`` ``(N, K, 2)`` int64: ``[y * W + x, visible]`` of each keypoint's
  heatmap pixel (``visible`` is 0 outside the heatmap or below 0.5 visibility);
- ``keypoint_weights`` ``(N, K)``.

Decoded (``batch_decode(batch_heatmaps (B, K, H, W), batch_tags (B, L*K, H, W))``, tag
channel ``l * K + k``): per image ``keypoints (M, K, 2)`` in input-image pixels,
``scores (M, K)`` and ``instance_scores (M,)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from posekit.codec_utils import (
    check_array,
    gaussian_blur,
    generate_gaussian_heatmaps,
    generate_udp_gaussian_heatmaps,
    refine_keypoints,
    refine_keypoints_dark_udp,
)
from posekit.protocols import BaseKeypointCodec
from posekit_bottomup.instances import batch_heatmap_nms, odd_kernel


def as_array(name: str, value: Any, shape: Sequence[int | str]) -> np.ndarray:
    """``value`` (a numpy array or a torch tensor) as a numpy array of ``shape``, else ValueError naming ``name``."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return check_array(name, value, shape)


def as_keypoints(keypoints: Any, keypoints_visible: Any | None) -> tuple[np.ndarray, np.ndarray]:
    """``keypoints (N, K, 2)`` and ``keypoints_visible (N, K)`` (None: all ones) as checked numpy arrays."""
    keypoints = as_array("keypoints", keypoints, ("N", "K", 2))
    if keypoints_visible is None:
        keypoints_visible = np.ones(keypoints.shape[:2], dtype=np.float32)
    return keypoints, as_array("keypoints_visible", keypoints_visible, keypoints.shape[:2])


def group_keypoints_by_tags(
    vals: np.ndarray,
    tags: np.ndarray,
    locs: np.ndarray,
    keypoint_order: Sequence[int],
    val_thr: float,
    tag_thr: float,
    max_groups: int | None,
) -> np.ndarray:
    """Group keypoint candidates of one image into people by their tags (MMPose's greedy matching).

    Keypoints are visited in ``keypoint_order``; the candidates of each keypoint are matched
    to the existing groups by a Hungarian assignment on ``round(tag distance) * 100 - value``,
    and a candidate farther than ``tag_thr`` from its match starts a new group. A group is
    identified by the first tag value it was started with, as in MMPose.

    Args:
        vals: candidate heatmap values ``(K, C)``.
        tags: candidate tags ``(K, C, L)``.
        locs: candidate heatmap locations ``(K, C, 2)`` (x, y).
        keypoint_order: the order in which keypoints are grouped, a permutation of ``range(K)``.
        val_thr: candidates with a value at or below this are ignored.
        tag_thr: the largest tag distance to join an existing group.
        max_groups: keep at most this many groups (the first found); None: all.

    Returns:
        ``(G, K, 3)`` float32: x, y (heatmap pixels) and value per keypoint; 0 where missing.
    """
    num_kpts, _, dim = tags.shape
    # x, y, value, tag... per candidate; float64 as MMPose's concatenation makes it
    joints_all = np.concatenate((locs, vals[..., None], tags), axis=-1)
    blank = np.zeros((num_kpts, 3 + dim), dtype=np.float32)
    groups: dict[Any, np.ndarray] = {}
    group_tags: dict[Any, list[np.ndarray]] = {}
    for i, k in enumerate(keypoint_order):
        valid = joints_all[k, :, 2] > val_thr
        joints = joints_all[k, valid]
        tags_k = tags[k, valid]
        if not len(joints):
            continue
        if i == 0 or not groups:
            for tag, joint in zip(tags_k, joints, strict=True):
                groups.setdefault(tag[0], blank.copy())[k] = joint
                group_tags[tag[0]] = [tag]
            continue
        keys = list(groups)
        mean_tags = np.array([np.mean(group_tags[key], axis=0) for key in keys])
        dists = np.linalg.norm(joints[:, None, 3:] - mean_tags[None], ord=2, axis=2)
        costs = np.round(dists) * 100 - joints[:, 2:3]
        num_new, num_groups = costs.shape
        if num_new > num_groups:
            costs = np.concatenate((costs, np.full((num_new, num_new - num_groups), 1e10)), axis=1)
        for row, col in zip(*linear_sum_assignment(costs), strict=True):
            if col < num_groups and dists[row, col] < tag_thr:
                key = keys[col]
                group_tags[key].append(tags_k[row])
            else:
                key = tags_k[row][0]
                group_tags[key] = [tags_k[row]]
            groups.setdefault(key, blank.copy())[k] = joints[row]
    kept = list(groups)[:max_groups]
    if not kept:
        return np.empty((0, num_kpts, 3), dtype=np.float32)
    return np.array([groups[key] for key in kept], dtype=np.float32)[..., :3]


class AssociativeEmbedding(BaseKeypointCodec):
    """Gaussian heatmaps and keypoint indices for training; top-k, tag grouping and refinement for decoding.

    Args:
        input_size: input image size ``(w, h)`` in pixels.
        heatmap_size: heatmap size ``(W, H)``.
        sigma: Gaussian sigma in heatmap pixels; None: ``sqrt(W * H) / 64``.
        use_udp: unbiased data processing (UDP Gaussians, DARK-UDP refinement). Default False.
        decode_keypoint_order: the keypoint order of the grouping; empty: ``0 .. K-1``.
        decode_nms_kernel: odd max-pool kernel of the heatmap NMS. Default 5.
        decode_gaussian_kernel: odd blur kernel of the DARK-UDP refinement (``use_udp`` only). Default 3.
        decode_keypoint_thr: candidates must exceed this heatmap value. Default 0.1.
        decode_tag_thr: the largest tag distance to join a group. Default 1.0.
        decode_topk: candidates taken per keypoint heatmap. Default 30.
        decode_center_shift: added to refined coordinates (heatmap pixels) of found keypoints. Default 0.
        decode_max_instances: keep at most this many people per image; None: all.
    """

    example_config = {"input_size": (64, 64), "heatmap_size": (16, 16), "sigma": 2.0}  # posekit plugins --check

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        sigma: float | None = None,
        use_udp: bool = False,
        decode_keypoint_order: tuple[int, ...] = (),
        decode_nms_kernel: int = 5,
        decode_gaussian_kernel: int = 3,
        decode_keypoint_thr: float = 0.1,
        decode_tag_thr: float = 1.0,
        decode_topk: int = 30,
        decode_center_shift: float = 0.0,
        decode_max_instances: int | None = None,
    ) -> None:
        self.input_size = input_size
        self.heatmap_size = heatmap_size
        self.use_udp = use_udp
        self.decode_keypoint_order = tuple(decode_keypoint_order)
        self.decode_nms_kernel = odd_kernel("decode_nms_kernel", decode_nms_kernel)
        self.decode_gaussian_kernel = decode_gaussian_kernel
        self.decode_keypoint_thr = decode_keypoint_thr
        self.decode_tag_thr = decode_tag_thr
        self.decode_topk = decode_topk
        self.decode_center_shift = decode_center_shift
        self.decode_max_instances = decode_max_instances
        if use_udp:
            self.scale_factor = ((np.array(input_size) - 1) / (np.array(heatmap_size) - 1)).astype(np.float32)
        else:
            self.scale_factor = (np.array(input_size) / heatmap_size).astype(np.float32)
        self.sigma = sigma if sigma is not None else (heatmap_size[0] * heatmap_size[1]) ** 0.5 / 64

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Encode all people of one image into heatmaps and keypoint indices.

        Args:
            keypoints: ``(N, K, 2)`` in input-image pixels.
            keypoints_visible: ``(N, K)``; None: all visible.

        Returns:
            ``heatmaps (K, H, W)``, ``keypoint_indices (N, K, 2)`` int64, ``keypoint_weights (N, K)``.
        """
        keypoints, keypoints_visible = as_keypoints(keypoints, keypoints_visible)
        hm_keypoints = keypoints / self.scale_factor
        generate = generate_udp_gaussian_heatmaps if self.use_udp else generate_gaussian_heatmaps
        heatmaps, keypoint_weights = generate(
            heatmap_size=self.heatmap_size,
            keypoints=hm_keypoints,
            keypoints_visible=keypoints_visible,
            sigma=self.sigma,
        )
        w, h = self.heatmap_size
        xy = (hm_keypoints + 0.5).astype(np.int64)
        x, y = xy[..., 0], xy[..., 1]
        visible = (keypoints_visible > 0.5) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
        keypoint_indices = np.stack((y * w + x, visible.astype(np.int64)), axis=-1)
        return {"heatmaps": heatmaps, "keypoint_indices": keypoint_indices, "keypoint_weights": keypoint_weights}

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Read each person's keypoints back from ``keypoint_indices`` (heatmap pixel centres).

        Returns ``keypoints (N, K, 2)`` in input-image pixels and ``scores (N, K)``, the visibility flags.
        """
        indices = as_array("keypoint_indices", encoded["keypoint_indices"], ("N", "K", 2))
        w = self.heatmap_size[0]
        xy = np.stack((indices[..., 0] % w, indices[..., 0] // w), axis=-1).astype(np.float32)
        return xy * self.scale_factor, indices[..., 1].astype(np.float32)

    def decode(self, heatmaps: np.ndarray, tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decode one image: ``heatmaps (K, H, W)`` and ``tags (L*K, H, W)``.

        Returns ``keypoints (M, K, 2)`` in input-image pixels and ``scores (M, K)``.
        """
        heatmaps = as_array("heatmaps", heatmaps, ("K", "H", "W"))
        tags = as_array("tags", tags, ("L*K", "H", "W"))
        keypoints, scores, _ = self.batch_decode(heatmaps[None], tags[None])
        return keypoints[0], scores[0]

    def _topk(self, heatmaps: np.ndarray, tags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k peaks per keypoint heatmap: values ``(B, K, k)``, tags ``(B, K, k, L)``, locations ``(B, K, k, 2)``."""
        b, k, h, w = heatmaps.shape
        dim = tags.shape[1] // k
        flat = heatmaps.reshape(b, k, h * w)
        idx = np.argsort(-flat, axis=-1, kind="stable")[..., : self.decode_topk]
        vals = np.take_along_axis(flat, idx, axis=-1)
        tag_flat = tags.reshape(b, dim, k, h * w)
        topk_tags = np.take_along_axis(tag_flat, idx[:, None], axis=-1).transpose(0, 2, 3, 1)
        locs = np.stack((idx % w, idx // w), axis=-1)
        return vals, topk_tags, locs

    def _fill_missing(self, keypoints: np.ndarray, scores: np.ndarray, heatmaps: np.ndarray, tags: np.ndarray) -> None:
        """Fill keypoints with score 0 (in place) at the best heatmap response near the person's mean tag.

        ``keypoints (M, K, 2)`` and ``scores (M, K)`` in heatmap pixels, ``heatmaps (K, H, W)``, ``tags (L*K, H, W)``.
        """
        k, h, w = heatmaps.shape
        tag_maps = tags.reshape(-1, k, h, w)
        dim = tag_maps.shape[0]
        for n in range(len(keypoints)):
            found = np.flatnonzero(scores[n] > 0)
            missing = np.flatnonzero(scores[n] <= 0)
            if not len(missing) or not len(found):
                continue
            xy = keypoints[n, found].astype(np.int64)
            x = np.clip(xy[:, 0], 0, w - 1)
            y = np.clip(xy[:, 1], 0, h - 1)
            person_tag = np.mean(np.ascontiguousarray(tag_maps[:, found, y, x].T), axis=0)
            dist = np.linalg.norm(tag_maps[:, missing] - person_tag.reshape(dim, 1, 1, 1), ord=2, axis=0)
            cost = np.round(dist) * 100 - heatmaps[missing]
            best = cost.reshape(len(missing), -1).argmin(axis=1)
            by, bx = np.divmod(best, w)
            keypoints[n, missing] = np.stack((bx, by), axis=-1)
            scores[n, missing] = heatmaps[missing, by, bx]

    def batch_decode(
        self, batch_heatmaps: np.ndarray, batch_tags: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Decode every person of each image of a batch.

        Args:
            batch_heatmaps: keypoint heatmaps ``(B, K, H, W)`` (array or tensor).
            batch_tags: tag maps ``(B, L*K, H, W)``, channel ``l * K + k``.

        Returns:
            Per image: ``keypoints (M, K, 2)`` in input-image pixels, ``scores (M, K)``, and
            ``instance_scores (M,)``, the mean score of the keypoints found by grouping.
        """
        heatmaps = as_array("batch_heatmaps", batch_heatmaps, ("B", "K", "H", "W"))
        b, k, h, w = heatmaps.shape
        tags = as_array("batch_tags", batch_tags, (b, f"L*{k}", h, w))
        if tags.shape[1] % k:
            raise ValueError(f"batch_tags: expected L*{k} channels (L tag dims per keypoint), got {tags.shape[1]}")
        order = self.decode_keypoint_order or tuple(range(k))
        if sorted(order) != list(range(k)):
            raise ValueError(f"decode_keypoint_order must be a permutation of 0..{k - 1}, got {order}")
        vals, topk_tags, locs = self._topk(batch_heatmap_nms(heatmaps, self.decode_nms_kernel), tags)
        all_keypoints, all_scores, all_instance_scores = [], [], []
        for i in range(b):
            groups = group_keypoints_by_tags(
                vals[i],
                topk_tags[i],
                locs[i],
                keypoint_order=order,
                val_thr=self.decode_keypoint_thr,
                tag_thr=self.decode_tag_thr,
                max_groups=self.decode_max_instances,
            )
            keypoints, scores = groups[..., :2].copy(), groups[..., 2].copy()
            instance_scores = scores.mean(axis=-1)
            if keypoints.size:
                fill_maps = heatmaps[i]
                if self.use_udp:
                    keypoints = refine_keypoints_dark_udp(keypoints, heatmaps[i], self.decode_gaussian_kernel)
                    # MMPose's UDP refinement leaves the maps blurred and log-scaled (it works in place),
                    # and the missing keypoints are then filled, and scored, from those maps
                    blurred = gaussian_blur(heatmaps[i], self.decode_gaussian_kernel)
                    fill_maps = np.log(np.clip(blurred, np.float32(1e-3), np.float32(50.0)))
                else:
                    keypoints = refine_keypoints(keypoints, heatmaps[i])
                keypoints += self.decode_center_shift * (scores > 0).astype(keypoints.dtype)[..., None]
                self._fill_missing(keypoints, scores, fill_maps, tags[i])
            all_keypoints.append(keypoints * self.scale_factor)
            all_scores.append(scores)
            all_instance_scores.append(instance_scores)
        return all_keypoints, all_scores, all_instance_scores
