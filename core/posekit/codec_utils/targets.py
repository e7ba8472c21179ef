"""Target rendering: Gaussian heatmaps (MSRA, unbiased DARK, UDP)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=64)
def _grid(width: int, height: int) -> np.ndarray:
    """Pixel coordinates ``(2, max(W, H))`` float32: row 0 is x, row 1 is y, the shorter padded with inf."""
    grid = np.full((2, max(width, height)), np.inf, dtype=np.float32)
    grid[0, :width] = np.arange(width)
    grid[1, :height] = np.arange(height)
    grid.flags.writeable = False
    return grid


def _render(
    heatmap_size: tuple[int, int],
    origin: np.ndarray,
    offset: np.ndarray | np.float32,
    neg_denom: np.ndarray | np.float32,
    draw: np.ndarray,
    end: np.ndarray | None,
) -> np.ndarray:
    """Max over instances of separable Gaussians, ``(K, H, W)`` float32.

    Per axis, the value at pixel ``p`` of keypoint ``(n, k)`` is ``exp(d ** 2 / neg_denom)`` with
    ``d = (p - origin) - offset`` computed in float32, the way MMPose evaluates its local patch.
    ``origin (N, K, 2)`` is the patch's integer origin (0 for a full-map Gaussian), ``offset``
    broadcasts to ``(N, K, 2, 1)``, ``neg_denom`` is ``-2 * sigma ** 2`` (scalar or ``(N, 1, 1, 1)``),
    ``end (N, K, 2)`` bounds the window ``[origin, end)`` (None: the whole map).
    """
    width, height = heatmap_size
    n_inst, n_kpt = draw.shape
    grid = _grid(width, height)
    d = (grid - origin[..., None]) - offset  # (N, K, 2, L)
    g = np.exp((d * d) / neg_denom)
    if end is None:
        g = np.where(draw[..., None, None], g, np.float32(0))
    else:
        end = np.where(draw[..., None], end, origin)[..., None]  # an empty window when not drawn
        g = np.where((grid >= origin[..., None]) & (grid < end), g, np.float32(0))
    gx, gy = g[:, :, 0, :width], g[:, :, 1, :height]
    if n_inst == 1:
        return np.einsum("kh,kw->khw", gy[0], gx[0])
    heatmaps = np.zeros((n_kpt, height, width), dtype=np.float32)
    for n in np.flatnonzero(draw.any(axis=1)):
        np.maximum(heatmaps, np.einsum("kh,kw->khw", gy[n], gx[n]), out=heatmaps)
    return heatmaps


def _per_instance(value: float | np.ndarray) -> np.float32 | np.ndarray:
    """A number as a float32 scalar; an ``(N, 1, 1)`` array as float32 ``(N, 1, 1, 1)``."""
    if isinstance(value, np.ndarray):
        return value.astype(np.float32)[..., None]
    return np.float32(value)


def _instance_sigmas(sigma: float | Sequence[float] | np.ndarray, n_inst: int) -> float | np.ndarray:
    """A number stays a number; a sequence becomes ``(N, 1, 1)`` float64, one sigma per instance."""
    if isinstance(sigma, (int, float)):
        return float(sigma)
    sigmas = np.asarray(sigma, dtype=np.float64).reshape(-1)
    if sigmas.size == 1:
        return float(sigmas[0])
    if sigmas.size != n_inst:
        raise ValueError(f"sigma: expected a number or one per instance ({n_inst},), got shape {sigmas.shape}")
    return sigmas.reshape(n_inst, 1, 1)


def _window(
    heatmap_size: tuple[int, int], keypoints_visible: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """MMPose's rule for ``(N, K, 2)`` window bounds ``[lo, hi)``: skip keypoints with visibility < 0.5,
    zero the weight of labelled ones whose window misses the map.

    Returns ``keypoint_weights (N, K)`` (a copy of the visibilities) and ``draw (N, K)`` bool.
    """
    outside = ((lo >= heatmap_size) | (hi < 0)).any(axis=-1)
    labelled = keypoints_visible >= 0.5
    weights = keypoints_visible.copy()
    weights[labelled & outside] = 0
    return weights, labelled & ~outside


def _rounded_window(keypoints: np.ndarray, radius: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mu, lo, hi)``: the rounded keypoint and its window ``[lo, hi)`` of half-width ``radius``, in heatmap pixels.

    The rounding is MMPose's ``astype(int64)`` of ``keypoint + 0.5`` (half up, toward zero below 0).
    """
    mu = np.trunc(keypoints + 0.5)
    return mu, np.trunc(mu - radius), np.trunc(mu + radius + 1)


def generate_gaussian_heatmaps(
    heatmap_size: tuple[int, int],
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    sigma: float | Sequence[float] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian heatmaps centred on the rounded keypoint, cut to a 3-sigma window (MSRA).

    ``keypoints (N, K, 2)`` in heatmap pixels of ``heatmap_size (W, H)``; ``sigma`` one or ``(N,)``.
    Overlapping instances take the element-wise maximum. Returns ``heatmaps (K, H, W)`` float32 and
    ``keypoint_weights (N, K)`` (the visibilities, zeroed where a labelled keypoint's window misses the map).
    """
    sigmas = _instance_sigmas(sigma, keypoints.shape[0])
    radius = sigmas * 3
    _, lo, hi = _rounded_window(keypoints, radius)
    weights, draw = _window(heatmap_size, keypoints_visible, lo, hi)
    origin = lo.astype(np.float32)
    center = _per_instance((2 * radius + 1) // 2)
    return _render(heatmap_size, origin, center, _per_instance(-2 * sigmas**2), draw, hi.astype(np.float32)), weights


def generate_unbiased_gaussian_heatmaps(
    heatmap_size: tuple[int, int],
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Full-map Gaussian heatmaps centred on the exact (sub-pixel) keypoint (DarkPose).

    Arguments and returns as :func:`generate_gaussian_heatmaps` (one ``sigma`` in heatmap pixels).
    """
    radius = sigma * 3
    weights, draw = _window(heatmap_size, keypoints_visible, keypoints - radius, keypoints + radius + 1)
    origin = np.zeros(keypoints.shape, dtype=np.float32)
    center = keypoints.astype(np.float32)[..., None]
    return _render(heatmap_size, origin, center, np.float32(-2 * sigma**2), draw, None), weights


def generate_udp_gaussian_heatmaps(
    heatmap_size: tuple[int, int],
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian heatmaps centred on the exact keypoint inside the 3-sigma window of the rounded one (UDP).

    Arguments and returns as :func:`generate_gaussian_heatmaps` (one ``sigma`` in heatmap pixels).
    """
    radius = sigma * 3
    mu, lo, hi = _rounded_window(keypoints, radius)
    weights, draw = _window(heatmap_size, keypoints_visible, lo, hi)
    center = ((2 * radius + 1) // 2 + (keypoints.astype(np.float64) - mu)).astype(np.float32)[..., None]
    origin = lo.astype(np.float32)
    return _render(heatmap_size, origin, center, np.float32(-2 * sigma**2), draw, hi.astype(np.float32)), weights
