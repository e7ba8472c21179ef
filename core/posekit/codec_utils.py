"""Shared numpy helpers of the keypoint codecs: target rendering, maxima, sub-pixel refinement, flips.

The maths follow MMPose 1.x (``mmpose/codecs/utils`` and ``mmpose/models/utils/tta.py``) number for
number, vectorised over instances and batches instead of looping over keypoints.

Dimensions:

- N: instances (or B: samples of a batch); K: keypoints;
- [W, H]: heatmap size (a ``heatmap_size`` argument is ``(W, H)``, arrays are ``(..., H, W)``);
- L: SimCC bins along one axis.

Keypoints passed to these helpers are already in the space of the array they index (heatmap
pixels, SimCC bins); codecs scale them to and from the model's input space.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "batch_heatmap_nms",
    "check_array",
    "flip_coordinates",
    "flip_heatmaps",
    "flip_vectors",
    "gaussian_blur",
    "gaussian_blur1d",
    "generate_gaussian_heatmaps",
    "generate_offset_heatmap",
    "generate_udp_gaussian_heatmaps",
    "generate_unbiased_gaussian_heatmaps",
    "get_heatmap_maximum",
    "get_simcc_maximum",
    "refine_keypoints",
    "refine_keypoints_dark",
    "refine_keypoints_dark_udp",
    "refine_simcc_dark",
]

# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def check_array(name: str, value: object, shape: Sequence[int | str]) -> np.ndarray:
    """Return ``value`` when it is a numeric ndarray of ``shape``, else raise ``ValueError``.

    Args:
        name: the argument's name, used in the message.
        value: what the caller passed.
        shape: the expected shape; an ``int`` entry must match exactly, a ``str`` entry (a
            dimension's name such as ``"K"``) matches any size.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.ndim == len(shape):
        for want, got in zip(shape, value.shape, strict=True):
            if want != got and not isinstance(want, str):
                break
        else:
            return value
    expected = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    if isinstance(value, np.ndarray):
        got = f"an array of shape {value.shape} and dtype {value.dtype}"
    else:
        got = f"a {type(value).__name__}"
    raise ValueError(f"{name}: expected a numeric array of shape {expected}, got {got}")


# --------------------------------------------------------------------------------------------
# target rendering
# --------------------------------------------------------------------------------------------


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

    Args:
        heatmap_size: ``(W, H)``.
        origin: ``(N, K, 2)`` float32 integer origin of the local patch (0 for a full-map Gaussian).
        offset: float32 centre relative to ``origin``, broadcastable to ``(N, K, 2, 1)``.
        neg_denom: float32 ``-2 * sigma ** 2``, a scalar or ``(N, 1, 1, 1)`` per instance.
        draw: ``(N, K)`` bool, the keypoints to draw.
        end: ``(N, K, 2)`` float32 end of the window: draw only on ``[origin, end)`` per axis, or
            None for the whole map.
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


def generate_gaussian_heatmaps(
    heatmap_size: tuple[int, int],
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    sigma: float | Sequence[float] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian heatmaps centred on the rounded keypoint, cut to a 3-sigma window (MSRA).

    Overlapping instances of one keypoint take the element-wise maximum.

    Args:
        heatmap_size: ``(W, H)``.
        keypoints: ``(N, K, 2)`` in heatmap pixels.
        keypoints_visible: ``(N, K)``.
        sigma: one sigma, or one per instance ``(N,)``.

    Returns:
        ``heatmaps (K, H, W)`` float32 and ``keypoint_weights (N, K)`` (the visibilities, zeroed
        where a labelled keypoint's window misses the map).
    """
    sigmas = _instance_sigmas(sigma, keypoints.shape[0])
    radius = sigmas * 3
    mu = np.trunc(keypoints + 0.5)  # MMPose: astype(int64), i.e. rounding half up, toward zero below 0
    lo = np.trunc(mu - radius)
    hi = np.trunc(mu + radius + 1)
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

    Args:
        heatmap_size: ``(W, H)``.
        keypoints: ``(N, K, 2)`` in heatmap pixels.
        keypoints_visible: ``(N, K)``.
        sigma: the Gaussian's sigma in heatmap pixels.

    Returns:
        ``heatmaps (K, H, W)`` float32 and ``keypoint_weights (N, K)``.
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

    Args:
        heatmap_size: ``(W, H)``.
        keypoints: ``(N, K, 2)`` in heatmap pixels.
        keypoints_visible: ``(N, K)``.
        sigma: the Gaussian's sigma in heatmap pixels.

    Returns:
        ``heatmaps (K, H, W)`` float32 and ``keypoint_weights (N, K)``.
    """
    radius = sigma * 3
    mu = np.trunc(keypoints + 0.5)
    lo = np.trunc(mu - radius)
    hi = np.trunc(mu + radius + 1)
    weights, draw = _window(heatmap_size, keypoints_visible, lo, hi)
    center = ((2 * radius + 1) // 2 + (keypoints.astype(np.float64) - mu)).astype(np.float32)[..., None]
    origin = lo.astype(np.float32)
    return _render(heatmap_size, origin, center, np.float32(-2 * sigma**2), draw, hi.astype(np.float32)), weights


def generate_offset_heatmap(
    heatmap_size: tuple[int, int],
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    radius_factor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """UDP "combined" targets: per keypoint a binary disc map and x / y offset maps.

    The disc has radius ``r = radius_factor * max(W, H)``; offsets ``(keypoint - pixel) / r`` cover
    the whole map (zeros for an unlabelled keypoint). For several instances the last labelled one
    wins, as in MMPose.

    Args:
        heatmap_size: ``(W, H)``.
        keypoints: ``(N, K, 2)`` in heatmap pixels.
        keypoints_visible: ``(N, K)``.
        radius_factor: disc radius as a fraction of ``max(W, H)``.

    Returns:
        ``heatmaps (3K, H, W)`` float32 ordered ``[label_k, x_offset_k, y_offset_k]`` per keypoint,
        and ``keypoint_weights (N, K)`` (a copy of the visibilities).
    """
    width, height = heatmap_size
    n_inst, n_kpt = keypoints_visible.shape
    labelled = keypoints_visible >= 0.5
    last = n_inst - 1 - np.argmax(labelled[::-1], axis=0)  # (K,) last labelled instance
    mu = keypoints[last, np.arange(n_kpt)].astype(np.float64)  # (K, 2)
    radius = radius_factor * max(width, height)
    x_offset = (mu[:, 0, None, None] - np.arange(width)) / radius  # (K, 1, W)
    y_offset = (mu[:, 1, None, None] - np.arange(height)[:, None]) / radius  # (K, H, 1)
    any_labelled = labelled.any(axis=0)[:, None, None]
    label = (x_offset**2 + y_offset**2 <= 1) & any_labelled
    heatmaps = np.empty((n_kpt, 3, height, width), dtype=np.float32)
    heatmaps[:, 0] = label
    heatmaps[:, 1] = x_offset * any_labelled
    heatmaps[:, 2] = y_offset * any_labelled
    return heatmaps.reshape(n_kpt * 3, height, width), keypoints_visible.copy()


# --------------------------------------------------------------------------------------------
# maxima
# --------------------------------------------------------------------------------------------


def get_heatmap_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Location and value of each heatmap's maximum.

    Args:
        heatmaps: ``(..., H, W)``, e.g. ``(K, H, W)`` or ``(B, K, H, W)``.

    Returns:
        ``locs (..., 2)`` float32 ``(x, y)`` in heatmap pixels (``-1`` where the maximum is
        ``<= 0``) and ``vals (...)``.
    """
    lead, (height, width) = heatmaps.shape[:-2], heatmaps.shape[-2:]
    flat = heatmaps.reshape(-1, height * width)
    index = np.argmax(flat, axis=1)
    vals = np.take_along_axis(flat, index[:, None], axis=1)[:, 0]
    locs = np.empty((flat.shape[0], 2), dtype=np.float32)
    locs[:, 1], locs[:, 0] = np.divmod(index, width)
    locs[vals <= 0] = -1
    return locs.reshape(*lead, 2), vals.reshape(lead)


def batch_heatmap_nms(batch_heatmaps: np.ndarray, kernel_size: int = 5) -> np.ndarray:
    """Zero every pixel that is not the maximum of its ``kernel_size`` window (MMPose's ``batch_heatmap_nms``).

    Same numbers as MMPose's ``max_pool2d`` (padding ``-inf``) and equality mask, in numpy.

    Args:
        batch_heatmaps: ``(..., H, W)``, e.g. ``(B, K, H, W)``.
        kernel_size: odd window size in heatmap pixels.

    Returns:
        the heatmaps with non-maxima set to zero, same shape and dtype.
    """
    if kernel_size % 2 != 1 or kernel_size < 1:
        raise ValueError(f"kernel_size: expected an odd positive integer, got {kernel_size}")
    pad = (kernel_size - 1) // 2
    maximum = batch_heatmaps
    for axis in (batch_heatmaps.ndim - 1, batch_heatmaps.ndim - 2):  # the window max is separable
        widths = [(0, 0)] * batch_heatmaps.ndim
        widths[axis] = (pad, pad)
        padded = np.pad(maximum, widths, constant_values=-np.inf)
        maximum = np.lib.stride_tricks.sliding_window_view(padded, kernel_size, axis=axis).max(axis=-1)
    return batch_heatmaps * (batch_heatmaps == maximum)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def get_simcc_maximum(
    simcc_x: np.ndarray, simcc_y: np.ndarray, apply_softmax: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Location and value of the maximum of x / y SimCC vectors.

    The value is the smaller of the two maxima.

    Args:
        simcc_x: ``(..., Lx)``, e.g. ``(N, K, Lx)``.
        simcc_y: ``(..., Ly)`` with the same leading shape.
        apply_softmax: take a softmax over the bins first.

    Returns:
        ``locs (..., 2)`` float32 in bins (``-1`` where the value is ``<= 0``) and ``vals (...)``.
    """
    if apply_softmax:
        simcc_x, simcc_y = _softmax(simcc_x), _softmax(simcc_y)
    lead = simcc_x.shape[:-1]
    flat_x = simcc_x.reshape(-1, simcc_x.shape[-1])
    flat_y = simcc_y.reshape(-1, simcc_y.shape[-1])
    ix = np.argmax(flat_x, axis=1)
    iy = np.argmax(flat_y, axis=1)
    max_x = np.take_along_axis(flat_x, ix[:, None], axis=1)[:, 0]
    max_y = np.take_along_axis(flat_y, iy[:, None], axis=1)[:, 0]
    vals = np.where(max_x > max_y, max_y, max_x)
    locs = np.stack((ix, iy), axis=-1).astype(np.float32)
    locs[vals <= 0] = -1
    return locs.reshape(*lead, 2), vals.reshape(lead)


# --------------------------------------------------------------------------------------------
# blur
# --------------------------------------------------------------------------------------------


def _blur_raw(heatmaps: np.ndarray, kernel: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded Gaussian blur of every map, and each map's rescale factor ``max(before) / max(after)``.

    All maps go through one ``cv2.GaussianBlur`` call (zero border): they are stacked vertically with
    ``kernel // 2`` zero rows after each, which gives every kept pixel exactly the neighbourhood it
    has in MMPose's per-map zero-padded blur.

    Args:
        heatmaps: ``(..., H, W)``.
        kernel: odd Gaussian kernel size (sigma from cv2's rule ``0.3 * ((kernel - 1) * 0.5 - 1) + 0.8``).

    Returns:
        ``blurred (..., H, W)`` float32 (not rescaled) and ``scale (..., 1, 1)`` float32.
    """
    if kernel % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {kernel}")
    lead, (height, width) = heatmaps.shape[:-2], heatmaps.shape[-2:]
    maps = heatmaps.reshape(-1, height, width)
    canvas = np.zeros((maps.shape[0], height + kernel // 2, width), dtype=np.float32)
    canvas[:, :height] = maps
    blurred = cv2.GaussianBlur(canvas.reshape(-1, width), (kernel, kernel), 0, borderType=cv2.BORDER_CONSTANT)
    blurred = blurred.reshape(maps.shape[0], -1)[:, : height * width]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = maps.reshape(len(maps), -1).max(axis=1).astype(np.float32) / blurred.max(axis=1)
    return blurred.reshape(heatmaps.shape), scale.reshape(*lead, 1, 1)


def gaussian_blur(heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """Blur each map with a zero-padded Gaussian and rescale it to its original maximum (DarkPose).

    Args:
        heatmaps: ``(..., H, W)``; not modified (MMPose's version works in place).
        kernel: odd kernel size; 11 matches sigma 2, 17 sigma 3.

    Returns:
        ``(..., H, W)`` float32.
    """
    blurred, scale = _blur_raw(heatmaps, kernel)
    return blurred * scale


def _blur1d_raw(simcc: np.ndarray, kernel: int) -> tuple[np.ndarray, np.ndarray]:
    """1D counterpart of :func:`_blur_raw` for ``(..., L)`` vectors; scale is ``(..., 1)``."""
    if kernel % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {kernel}")
    rows = np.ascontiguousarray(simcc.reshape(-1, simcc.shape[-1]), dtype=np.float32)
    out = cv2.GaussianBlur(rows, (kernel, 1), 0, borderType=cv2.BORDER_CONSTANT)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = simcc.reshape(len(rows), -1).max(axis=1).astype(np.float32) / out.max(axis=1)
    return out.reshape(simcc.shape), scale.reshape(*simcc.shape[:-1], 1)


def gaussian_blur1d(simcc: np.ndarray, kernel: int = 11) -> np.ndarray:
    """Blur each SimCC vector with a zero-padded 1D Gaussian and rescale it to its original maximum.

    Args:
        simcc: ``(..., L)``; not modified.
        kernel: odd kernel size.

    Returns:
        ``(..., L)`` float32.
    """
    blurred, scale = _blur1d_raw(simcc, kernel)
    return blurred * scale


# --------------------------------------------------------------------------------------------
# refinement
# --------------------------------------------------------------------------------------------


def _channels(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Index of each keypoint's map in ``heatmaps.reshape(-1, H, W)``, shape ``keypoints.shape[:-1]``.

    ``heatmaps (..., K, H, W)`` broadcasts against ``keypoints (..., K, 2)``: MMPose's one-sample
    form ``(N, K, 2)`` with ``(K, H, W)`` shares the maps between instances, a batch
    ``(B, K, 2)`` with ``(B, K, H, W)`` pairs them.
    """
    maps = np.arange(int(np.prod(heatmaps.shape[:-2]))).reshape(heatmaps.shape[:-2])
    try:
        return np.broadcast_to(maps, keypoints.shape[:-1])
    except ValueError:
        raise ValueError(
            f"heatmaps: leading shape {heatmaps.shape[:-2]} does not match keypoints {keypoints.shape}"
        ) from None


def refine_keypoints(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Move each keypoint a quarter pixel towards its higher neighbour, per axis (MSRA decoding).

    Args:
        keypoints: ``(..., K, 2)`` float in heatmap pixels (the maxima).
        heatmaps: ``(..., K, H, W)`` broadcastable to the keypoints (see MMPose's ``(K, H, W)``).

    Returns:
        the refined keypoints (a new array of the keypoints' dtype).
    """
    height, width = heatmaps.shape[-2:]
    maps = heatmaps.reshape(-1, height, width)
    ch = _channels(keypoints, heatmaps)
    x = keypoints[..., 0].astype(int)
    y = keypoints[..., 1].astype(int)
    xc, yc = np.clip(x, 1, width - 2), np.clip(y, 1, height - 2)
    ok_x = (x > 1) & (x < width - 1) & (y > 0) & (y < height)
    ok_y = (y > 1) & (y < height - 1) & (x > 0) & (x < width)
    yr = np.clip(y, 0, height - 1)
    xr = np.clip(x, 0, width - 1)
    dx = np.where(ok_x, maps[ch, yr, xc + 1] - maps[ch, yr, xc - 1], 0)
    dy = np.where(ok_y, maps[ch, yc + 1, xr] - maps[ch, yc - 1, xr], 0)
    step = np.stack((np.sign(dx), np.sign(dy)), axis=-1).astype(np.float32) * 0.25
    return keypoints + step.astype(keypoints.dtype)


@functools.lru_cache(maxsize=16)
def _band(kernel: int, out: int) -> np.ndarray:
    """``(out, out + kernel - 1)`` float32 matrix applying cv2's 1D Gaussian of size ``kernel`` (sigma from
    the size) to a window, giving the ``out`` central outputs."""
    taps = cv2.getGaussianKernel(kernel, 0, ktype=cv2.CV_32F).ravel()
    band = np.zeros((out, out + kernel - 1), dtype=np.float32)
    for i in range(out):
        band[i, i : i + kernel] = taps
    band.flags.writeable = False
    return band


def _blurred_windows(
    maps: np.ndarray, ch: np.ndarray, y: np.ndarray, x: np.ndarray, half: int, kernel: int
) -> np.ndarray:
    """Zero-padded Gaussian blur of ``maps[ch]`` on the ``(2 half + 1)^2`` pixels around ``(y, x)``.

    Computes only those pixels (from a window of the unblurred map), not the whole map: ``(P, 2h+1, 2h+1)``
    float32 for ``P`` points; equal to the :func:`_blur_raw` values up to float32 summation order.
    """
    height, width = maps.shape[-2:]
    reach = half + kernel // 2
    offsets = np.arange(-reach, reach + 1)
    rows, cols = y[:, None] + offsets, x[:, None] + offsets
    index = (ch[:, None, None] * height + np.clip(rows, 0, height - 1)[:, :, None]) * width
    index = index + np.clip(cols, 0, width - 1)[:, None, :]
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
    window = np.where(inside, np.take(maps, index), np.float32(0)).astype(np.float32)
    band = _band(kernel, 2 * half + 1)
    return band @ (window @ band.T)  # rows then columns, as cv2's separable filter


def refine_keypoints_dark(keypoints: np.ndarray, heatmaps: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """Distribution-aware refinement (DarkPose): a Newton step on the log of the blurred heatmap.

    Only keypoints at least 2 pixels inside the map are refined, and only where the Hessian is
    invertible, as in MMPose. The blur is evaluated on each keypoint's 5 x 5 neighbourhood only: the
    rescale to the map's maximum adds a constant to the log-map, which cancels from every derivative,
    unless a neighbour falls below MMPose's floor of 1e-10; those keypoints take the whole-map path.

    Args:
        keypoints: ``(..., K, 2)`` float in heatmap pixels (the maxima).
        heatmaps: ``(..., K, H, W)`` broadcastable to the keypoints.
        blur_kernel_size: odd Gaussian kernel size of the modulation blur.

    Returns:
        the refined keypoints (a new array of the keypoints' dtype).
    """
    if blur_kernel_size % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {blur_kernel_size}")
    height, width = heatmaps.shape[-2:]
    maps = heatmaps.reshape(-1, height, width)
    ch = _channels(keypoints, heatmaps)
    x = keypoints[..., 0].astype(int)
    y = keypoints[..., 1].astype(int)
    inside = (x > 1) & (x < width - 2) & (y > 1) & (y < height - 2)
    ch, x, y = ch[inside], x[inside], y[inside]
    window = _blurred_windows(maps, ch, y, x, 2, blur_kernel_size)  # (P, 5, 5), centre at [2, 2]
    floor = np.float32(1e-10)
    exact = (window < floor).any(axis=(1, 2))
    logs = np.log(np.maximum(window, floor))
    if exact.any():
        used = np.unique(ch[exact])
        blurred, scale = _blur_raw(maps[used], blur_kernel_size)
        row = np.searchsorted(used, ch[exact])
        ys, xs = y[exact, None] + np.arange(-2, 3), x[exact, None] + np.arange(-2, 3)
        values = blurred[row[:, None, None], ys[:, :, None], xs[:, None, :]] * scale[row]
        logs[exact] = np.log(np.maximum(values, floor))

    def at(dy: int, dx: int) -> np.ndarray:
        return logs[:, 2 + dy, 2 + dx]

    center = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * center + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    dyy = 0.25 * (at(2, 0) - 2 * center + at(-2, 0))
    invertible = dxx * dyy - dxy**2 != 0
    hessian = np.stack((dxx, dxy, dxy, dyy), axis=-1).reshape(-1, 2, 2)[invertible]
    derivative = np.stack((dx, dy), axis=-1)[invertible, :, None]
    offset = np.zeros((inside.sum(), 2), dtype=np.float32)
    offset[invertible] = (-np.linalg.inv(hessian) @ derivative)[..., 0]
    refined = keypoints.copy()
    refined[inside] += offset.astype(keypoints.dtype)
    return refined


def refine_keypoints_dark_udp(keypoints: np.ndarray, heatmaps: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """DarkPose refinement for UDP heatmaps: Newton step on the clipped log-heatmap, edge-padded.

    Every keypoint is refined, including the ``-1`` of maps without a positive response, reading
    its neighbours exactly where MMPose's flat index into the padded maps of the sample lands.
    The blur is evaluated on each keypoint's 3 x 3 neighbourhood only when nothing is clipped there
    (the map's maximum is in (0, 50] and every neighbour is at least 1e-3): the rescale to the map's
    maximum then adds a constant to the log-map, which cancels from every derivative. Other
    keypoints, the ``-1`` ones among them, take MMPose's whole-map path.

    Args:
        keypoints: ``(..., K, 2)`` float in heatmap pixels (the maxima).
        heatmaps: ``(..., K, H, W)`` broadcastable to the keypoints.
        blur_kernel_size: odd Gaussian kernel size of the modulation blur.

    Returns:
        the refined keypoints (a new array of the keypoints' dtype).
    """
    if blur_kernel_size % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {blur_kernel_size}")
    height, width = heatmaps.shape[-2:]
    n_kpt = heatmaps.shape[-3]
    maps = heatmaps.reshape(-1, height, width)
    ch = _channels(keypoints, heatmaps).reshape(-1)
    x = keypoints[..., 0].reshape(-1).astype(int)
    y = keypoints[..., 1].reshape(-1).astype(int)
    # the 7 neighbours MMPose reads: centre, x+-1, y+-1, (x+1, y+1), (x-1, y-1), edge-padded
    ndy = np.array([0, 0, 0, 1, -1, 1, -1])
    ndx = np.array([0, 1, -1, 0, 0, 1, -1])
    lo, hi = np.float32(1e-3), np.float32(50.0)
    peak = maps.reshape(len(maps), -1).max(axis=1)
    valid = (x >= 0) & (x < width) & (y >= 0) & (y < height) & (peak[ch] > 0) & (peak[ch] <= hi)
    window = _blurred_windows(maps, ch, np.clip(y, 0, height - 1), np.clip(x, 0, width - 1), 1, blur_kernel_size)
    wy = np.clip(y[:, None] + ndy, 0, height - 1) - np.clip(y, 0, height - 1)[:, None] + 1
    wx = np.clip(x[:, None] + ndx, 0, width - 1) - np.clip(x, 0, width - 1)[:, None] + 1
    values = window[np.arange(len(ch))[:, None], wy, wx]  # (P, 7)
    fast = valid & (values >= lo).all(axis=1)
    logs = np.log(np.clip(values, lo, hi))
    if not fast.all():
        logs[~fast] = _udp_exact_logs(keypoints.reshape(-1, 2)[~fast], maps, ch[~fast], n_kpt, blur_kernel_size)
    i_, ix1, ix1_, iy1, iy1_, ix1y1, ix1_y1_ = logs.T
    dx = 0.5 * (ix1 - ix1_)
    dy = 0.5 * (iy1 - iy1_)
    dxx = (ix1 - 2 * i_ + ix1_).astype(np.float64) + np.finfo(np.float32).eps
    dyy = (iy1 - 2 * i_ + iy1_).astype(np.float64) + np.finfo(np.float32).eps
    dxy = (0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)).astype(np.float64)
    det = dxx * dyy - dxy * dxy
    offset = np.stack(((dyy * dx - dxy * dy) / det, (dxx * dy - dxy * dx) / det), axis=-1)
    return (keypoints - offset.reshape(keypoints.shape)).astype(keypoints.dtype)


def _udp_exact_logs(
    keypoints: np.ndarray, maps: np.ndarray, ch: np.ndarray, n_kpt: int, blur_kernel_size: int
) -> np.ndarray:
    """MMPose's whole-map UDP log-values ``(P, 7)`` at the neighbours of ``keypoints (P, 2)`` of maps ``ch (P,)``.

    Reads the flat index into the edge-padded maps of the keypoint's sample (``n_kpt`` maps from
    ``ch - k``), negative indices wrapping to the sample's end, as MMPose does.
    """
    height, width = maps.shape[-2:]
    k = ch % n_kpt
    base = ch - k
    used = np.unique(base[:, None] + np.arange(n_kpt))
    blurred, scale = _blur_raw(maps[used], blur_kernel_size)
    scale = scale.reshape(-1)
    row = width + 2
    plane = (height + 2) * row
    index = (keypoints[:, 0] + 1 + (keypoints[:, 1] + 1) * row + plane * k).astype(int)
    logs = []
    for step in (0, 1, -1, row, -row, row + 1, -row - 1):
        local, pos = np.divmod((index + step) % (plane * n_kpt), plane)  # negative indices wrap
        py, px = np.divmod(pos, row)
        c = np.searchsorted(used, base + local)
        value = blurred[c, np.clip(py - 1, 0, height - 1), np.clip(px - 1, 0, width - 1)] * scale[c]
        logs.append(np.log(np.clip(value, np.float32(1e-3), np.float32(50.0))))
    return np.stack(logs, axis=1)


def refine_simcc_dark(keypoints: np.ndarray, simcc: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """DarkPose refinement along one SimCC axis (a 1D Newton step on the clipped log-vector).

    Args:
        keypoints: ``(..., K)`` float, one coordinate in bins (the maxima).
        simcc: ``(..., K, L)`` with the same leading shape.
        blur_kernel_size: odd Gaussian kernel size of the modulation blur.

    Returns:
        the refined coordinates (a new array of the keypoints' dtype).
    """
    length = simcc.shape[-1]
    blurred, scale = _blur1d_raw(simcc, blur_kernel_size)
    padded = length + 4
    px = (keypoints + 2.5).astype(np.int64)

    def at(step: int) -> np.ndarray:
        pos = np.clip((px + step) % padded - 2, 0, length - 1)  # MMPose's edge pad of 2, negative wrap
        value = np.take_along_axis(blurred, pos[..., None], axis=-1)[..., 0] * scale[..., 0]
        return np.log(np.clip(value, np.float32(1e-3), np.float32(50.0)))

    dx = 0.5 * (at(1) - at(-1))
    dxx = 1e-9 + 0.25 * (at(2) - 2 * at(0) + at(-2))
    return (keypoints - dx / dxx).astype(keypoints.dtype)


# --------------------------------------------------------------------------------------------
# test-time flips (torch tensors)
# --------------------------------------------------------------------------------------------


def flip_heatmaps(
    heatmaps: Tensor,
    flip_indices: Sequence[int],
    flip_mode: str = "heatmap",
    shift_heatmap: bool = True,
) -> Tensor:
    """Flip heatmaps of a horizontally flipped input back (MMPose's ``flip_heatmaps``).

    Args:
        heatmaps: ``(B, C, H, W)``.
        flip_indices: keypoint index after the flip, one per keypoint.
        flip_mode: ``"heatmap"`` (one map per keypoint), ``"udp_combined"`` (3 maps per keypoint,
            the x-offset map negated) or ``"offset"`` (2 offset maps per keypoint, x negated).
        shift_heatmap: shift the flipped maps one pixel right (MSRA heatmaps).

    Returns:
        ``(B, C, H, W)``.
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


def flip_vectors(x_labels: Tensor, y_labels: Tensor, flip_indices: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Flip SimCC vectors of a horizontally flipped input back (MMPose's ``flip_vectors``).

    Args:
        x_labels: ``(B, K, Lx)``.
        y_labels: ``(B, K, Ly)``.
        flip_indices: keypoint index after the flip.

    Returns:
        ``(x_labels, y_labels)`` with keypoints swapped and x reversed.
    """
    if len(flip_indices) != x_labels.shape[1]:
        raise ValueError(f"flip_indices: expected {x_labels.shape[1]} entries, got {len(flip_indices)}")
    index = list(flip_indices)
    return x_labels[:, index].flip(-1), y_labels[:, index]


def flip_coordinates(
    coords: Tensor, flip_indices: Sequence[int], shift_coords: bool, input_size: tuple[int, int]
) -> Tensor:
    """Flip normalized coordinates of a horizontally flipped input back (MMPose's ``flip_coordinates``).

    Args:
        coords: ``(B, K, D)`` with x normalized to [0, 1] in its first channel.
        flip_indices: keypoint index after the flip.
        shift_coords: shift x by one input pixel, compensating the flip's pixel-centre offset.
        input_size: ``(w, h)`` of the model input.

    Returns:
        ``(B, K, D)``.
    """
    if len(flip_indices) != coords.shape[1]:
        raise ValueError(f"flip_indices: expected {coords.shape[1]} entries, got {len(flip_indices)}")
    coords = coords.clone()
    coords[:, :, 0] = 1.0 - coords[:, :, 0]
    if shift_coords:
        coords[:, :, 0] -= 1.0 / input_size[0]
    return coords[:, list(flip_indices)]
