"""Sub-pixel refinement of decoded heatmap keypoints: quarter-pixel shift, DARK, DARK-UDP."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from posekit.codec_utils.blur import _blur_raw


def _pixels(keypoints: np.ndarray, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``maps (M, H, W)`` (``heatmaps`` flattened), each keypoint's map index into them, and its integer
    ``x`` and ``y``; the last three of shape ``keypoints.shape[:-1]``.

    ``heatmaps (..., K, H, W)`` broadcasts against ``keypoints (..., K, 2)``: MMPose's one-sample
    form ``(N, K, 2)`` with ``(K, H, W)`` shares the maps between instances, a batch
    ``(B, K, 2)`` with ``(B, K, H, W)`` pairs them.
    """
    maps = heatmaps.reshape(-1, *heatmaps.shape[-2:])
    try:
        ch = np.broadcast_to(np.arange(len(maps)).reshape(heatmaps.shape[:-2]), keypoints.shape[:-1])
    except ValueError:
        raise ValueError(
            f"heatmaps: leading shape {heatmaps.shape[:-2]} does not match keypoints {keypoints.shape}"
        ) from None
    return maps, ch, keypoints[..., 0].astype(int), keypoints[..., 1].astype(int)


def refine_keypoints(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Move each keypoint a quarter pixel towards its higher neighbour, per axis (MSRA decoding).

    ``keypoints (..., K, 2)`` are the maxima in heatmap pixels, ``heatmaps (..., K, H, W)``
    broadcast against them; returns a new array of the keypoints' dtype.
    """
    height, width = heatmaps.shape[-2:]
    maps, ch, x, y = _pixels(keypoints, heatmaps)
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
    if kernel % 2 != 1:
        raise ValueError(f"blur kernel size must be odd, got {kernel}")
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
    Arguments and result as :func:`refine_keypoints`; ``blur_kernel_size`` is odd.
    """
    height, width = heatmaps.shape[-2:]
    maps, ch, x, y = _pixels(keypoints, heatmaps)
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
    keypoints, the ``-1`` ones among them, take MMPose's whole-map path. Arguments and result as
    :func:`refine_keypoints_dark`.
    """
    height, width = heatmaps.shape[-2:]
    n_kpt = heatmaps.shape[-3]
    maps, ch, x, y = _pixels(keypoints, heatmaps)
    ch, x, y = ch.reshape(-1), x.reshape(-1), y.reshape(-1)
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
