"""Per-person properties from visible keypoints, shared by the bottom-up codecs (SPR, DecoupledHeatmap),
the heatmap NMS their decoders (and AssociativeEmbedding's) find peaks with, and the bottom-up heads' example
inputs.

Dimensions: N people, K keypoints; coordinates in any one pixel space.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np


def instance_roots(keypoints: np.ndarray, visible: np.ndarray, root_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Root ``(N, 2)`` and root visibility ``(N,)`` of each person from its visible keypoints ``(N, K, 2)``."""
    roots = np.zeros((len(keypoints), 2), dtype=np.float32)
    roots_visible = np.zeros(len(keypoints), dtype=np.float32)
    for i, (kpts, vis) in enumerate(zip(keypoints, visible, strict=True)):
        pts = kpts[vis > 0]
        if not pts.size:
            continue
        roots[i] = pts.mean(axis=0) if root_type == "kpt_center" else (pts.max(axis=0) + pts.min(axis=0)) / 2.0
        roots_visible[i] = 1
    return roots, roots_visible


def diagonal_lengths(keypoints: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Diagonal ``(N,)`` of the box around each person's visible keypoints (0 without any)."""
    mask = (visible > 0)[..., None]
    any_visible = mask.any(axis=1)
    lo = np.where(any_visible, np.where(mask, keypoints, np.inf).min(axis=1), 0).astype(np.float32)
    hi = np.where(any_visible, np.where(mask, keypoints, -np.inf).max(axis=1), 0).astype(np.float32)
    return np.sqrt(np.power(hi - lo, 2).sum(axis=1))


def keypoint_boxes(keypoints: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """xyxy box ``(N, 4)`` around each person's visible keypoints (zeros without any)."""
    boxes = np.zeros((len(keypoints), 4), dtype=np.float32)
    for i, (kpts, vis) in enumerate(zip(keypoints, visible, strict=True)):
        pts = kpts[vis > 0]
        if pts.size:
            boxes[i] = np.concatenate([pts.min(axis=0), pts.max(axis=0)])
    return boxes


class BottomupHeadExample:
    """A bottom-up head's conformance inputs, :meth:`example_inputs`, from its ``example_config['decoder']``;
    ``example_margin``: how many pixels inside the image its example people's keypoints lie."""

    example_config: ClassVar[dict[str, Any]]
    example_margin: ClassVar[float] = 4.0

    @classmethod
    def example_inputs(cls, num_keypoints: int = 17) -> dict[str, Any]:
        """Features ``(8, 16, 16)`` and a batch of two 64x64 images (3 and 2 people) encoded by the example's
        codec; targets stacked where both images' agree in shape."""
        import torch

        from posekit.registry import build
        from posekit.structures import PoseBatch, PoseSample

        codec = build("codec", cls.example_config["decoder"])
        rng, margin = np.random.default_rng(0), cls.example_margin
        people = (rng.random((3, num_keypoints, 2)) * (64 - 2 * margin) + margin).astype(np.float32)
        encoded = [codec.encode(people[:n]) for n in (3, 2)]
        targets: dict[str, Any] = {}
        for key in encoded[0]:
            values = [torch.from_numpy(np.asarray(e[key])) for e in encoded]
            targets[key] = torch.stack(values) if values[0].shape == values[1].shape else values
        flip = list(range(num_keypoints))
        samples = [PoseSample(img_shape=(64, 64), input_size=(64, 64), flip_indices=flip) for _ in encoded]
        return {"feat_shapes": [(8, 16, 16)], "batch": PoseBatch(torch.zeros(2, 3, 64, 64), targets, samples)}


def odd_kernel(name: str, size: int) -> int:
    """``size``, refused with a ValueError naming ``name`` unless odd and positive (an NMS window)."""
    if size % 2 != 1 or size < 1:
        raise ValueError(f"{name}: expected an odd positive integer, got {size}")
    return size


def batch_heatmap_nms(batch_heatmaps: np.ndarray, kernel_size: int = 5) -> np.ndarray:
    """Zero every pixel that is not the maximum of its ``kernel_size`` window (MMPose's ``batch_heatmap_nms``).

    Same numbers as MMPose's ``max_pool2d`` (padding ``-inf``) and equality mask, in numpy.

    Args:
        batch_heatmaps: ``(..., H, W)``, e.g. ``(B, K, H, W)``.
        kernel_size: odd window size in heatmap pixels.

    Returns:
        the heatmaps with non-maxima set to zero, same shape and dtype.
    """
    pad = (odd_kernel("kernel_size", kernel_size) - 1) // 2
    maximum = batch_heatmaps
    for axis in (batch_heatmaps.ndim - 1, batch_heatmaps.ndim - 2):  # the window max is separable
        widths = [(0, 0)] * batch_heatmaps.ndim
        widths[axis] = (pad, pad)
        padded = np.pad(maximum, widths, constant_values=-np.inf)
        maximum = np.lib.stride_tricks.sliding_window_view(padded, kernel_size, axis=axis).max(axis=-1)
    return batch_heatmaps * (batch_heatmaps == maximum)
