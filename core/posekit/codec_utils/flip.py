"""Test-time flips (torch tensors): heatmaps and coordinates flipped back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


def flip_heatmaps(
    heatmaps: Tensor,
    flip_indices: Sequence[int],
    flip_mode: str = "heatmap",
    shift_heatmap: bool = True,
) -> Tensor:
    """Flip heatmaps of a horizontally flipped input back (MMPose's ``flip_heatmaps``).

    ``heatmaps (B, C, H, W)``; ``flip_mode`` is ``"heatmap"`` (one map per keypoint), ``"udp_combined"``
    (3 maps per keypoint, the x-offset map negated) or ``"offset"`` (2 offset maps per keypoint, x negated).
    """
    group = {"heatmap": 1, "udp_combined": 3, "offset": 2}.get(flip_mode)
    if group is None:
        raise ValueError(f"flip_mode: expected 'heatmap', 'udp_combined' or 'offset', got {flip_mode!r}")
    b, c, h, w = heatmaps.shape
    if len(flip_indices) * group != c:
        raise ValueError(f"flip_indices: expected {c // group} entries for {c} maps, got {len(flip_indices)}")
    heatmaps = heatmaps.view(b, c // group, group, h, w).flip(-1)[:, list(flip_indices)]
    if flip_mode == "udp_combined":
        heatmaps[:, :, 1] = -heatmaps[:, :, 1]
    elif flip_mode == "offset":
        heatmaps[:, :, 0] = -heatmaps[:, :, 0]
    heatmaps = heatmaps.reshape(b, c, h, w)
    if shift_heatmap:
        heatmaps[..., 1:] = heatmaps[..., :-1].clone()
    return heatmaps


def flip_coordinates(
    coords: Tensor, flip_indices: Sequence[int], shift_coords: bool, input_size: tuple[int, int]
) -> Tensor:
    """Flip normalized coordinates of a horizontally flipped input back (MMPose's ``flip_coordinates``).

    ``coords (B, K, D)`` with x normalized to [0, 1] first; ``shift_coords`` shifts x by one input
    pixel of ``input_size (w, h)``, compensating the flip's pixel-centre offset.
    """
    if len(flip_indices) != coords.shape[1]:
        raise ValueError(f"flip_indices: expected {coords.shape[1]} entries, got {len(flip_indices)}")
    coords = coords.clone()
    coords[:, :, 0] = 1.0 - coords[:, :, 0]
    if shift_coords:
        coords[:, :, 0] -= 1.0 / input_size[0]
    return coords[:, list(flip_indices)]
