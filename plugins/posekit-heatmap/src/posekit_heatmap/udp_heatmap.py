"""UDPHeatmap: keypoints as heatmaps by Unbiased Data Processing (Huang et al. 2020).

Dimensions: N instances (1 for this top-down codec), K keypoints, B samples of a batch;
input image size ``[w, h]``, heatmap size ``[W, H]``. UDP maps pixel centres to pixel centres:
``heatmap = input * (W - 1) / (w - 1)``.

Encoded (``encode``):

- ``heatmaps`` (C, H, W) float32: C = K Gaussian maps (``heatmap_type='gaussian'``) or
  C = 3K maps ``[label_k, x_offset_k, y_offset_k]`` (``heatmap_type='combined'``);
- ``keypoint_weights`` (N, K): per-keypoint loss weights.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from posekit.codec_utils import (
    generate_udp_gaussian_heatmaps,
    get_heatmap_maximum,
    refine_keypoints_dark_udp,
)
from posekit.errors import ConfigError
from posekit_heatmap._base import HeatmapCodecBase

#: cv2 filters at most this many channels in one call
_CV_MAX_CHANNELS = 512


class UDPHeatmap(HeatmapCodecBase):
    """Generate keypoint heatmaps by Unbiased Data Processing (`UDP`_).

    Args:
        input_size: input image size ``(w, h)`` in pixels.
        heatmap_size: heatmap size ``(W, H)`` in pixels.
        heatmap_type: ``'gaussian'`` (Gaussian maps, DarkPose-UDP decoding) or ``'combined'``
            (binary label map plus x / y offset maps per keypoint). Defaults to ``'gaussian'``.
        sigma: Gaussian sigma in heatmap pixels (``'gaussian'``). Defaults to 2.0.
        radius_factor: positive-disc radius as a fraction of ``max(W, H)`` (``'combined'``).
            Defaults to 0.0546875.
        blur_kernel_size: odd kernel size of the decoding blur (``'combined'`` blurs the label maps
            with ``2 * blur_kernel_size + 1``). Defaults to 11.

    .. _`UDP`: https://arxiv.org/abs/1911.07524
    """

    use_udp = True

    example_config = {"input_size": (192, 256), "heatmap_size": (48, 64)}  # posekit plugins --check

    label_mapping_table = {"keypoint_weights": "keypoint_weights"}
    field_mapping_table = {"heatmaps": "heatmaps"}

    _channels = "C"  # K maps, or 3K for heatmap_type "combined"

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        heatmap_type: Literal["gaussian", "combined"] = "gaussian",
        sigma: float = 2.0,
        radius_factor: float = 0.0546875,
        blur_kernel_size: int = 11,
    ) -> None:
        if heatmap_type not in ("gaussian", "combined"):
            raise ConfigError(f"UDPHeatmap: heatmap_type must be 'gaussian' or 'combined', got {heatmap_type!r}")
        self._set_geometry(input_size, heatmap_size, ("blur_kernel_size", blur_kernel_size), udp=True)
        self.heatmap_type = heatmap_type
        self.sigma = sigma
        self.radius_factor = radius_factor
        self.blur_kernel_size = blur_kernel_size
        self._channels_per_keypoint = 3 if heatmap_type == "combined" else 1

    def definition_keypoints(self, outputs: int) -> int:
        """The keypoints of the definition a head with ``outputs`` channels predicts (3 per keypoint if combined)."""
        return outputs // self._channels_per_keypoint

    def _encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scaled = keypoints / self.scale_factor
        if self.heatmap_type == "gaussian":
            return generate_udp_gaussian_heatmaps(self.heatmap_size, scaled, keypoints_visible, self.sigma)
        return generate_offset_heatmap(self.heatmap_size, scaled, keypoints_visible, self.radius_factor)

    def _check_channels(self, name: str, channels: int) -> None:
        if channels % self._channels_per_keypoint:
            raise ValueError(
                f"{name}: heatmap_type {self.heatmap_type!r} expects 3 maps per keypoint, got {channels} channels"
            )

    def _decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, C, H, W)`` -> ``keypoints (B, K, 2)`` float64 in input space, ``scores (B, K)``."""
        if self.heatmap_type == "gaussian":
            keypoints, scores = get_heatmap_maximum(heatmaps)
            keypoints = refine_keypoints_dark_udp(keypoints, heatmaps, blur_kernel_size=self.blur_kernel_size)
        else:
            keypoints, scores = self._decode_combined(heatmaps)
        width, height = self.heatmap_size
        return keypoints / [width - 1, height - 1] * self.input_size, scores

    def _decode_combined(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blurred label-map maxima plus the offsets read there (MMPose's flat indexing included)."""
        batch, channels, height, width = heatmaps.shape
        n_kpt = channels // 3
        labels = self._blur_labels(heatmaps[:, ::3])
        keypoints, scores = get_heatmap_maximum(labels)
        radius = self.radius_factor * max(width, height)
        # MMPose indexes the flattened offset maps of the sample; a -1 location wraps backwards
        index = (keypoints[..., 0] + keypoints[..., 1] * width).astype(np.float64)
        index = (index + width * height * np.arange(n_kpt)).astype(int) % (n_kpt * height * width)
        flat = index + (np.arange(batch) * n_kpt * height * width)[:, None]
        x_offset = heatmaps[:, 1::3].reshape(-1)[flat] * radius
        y_offset = heatmaps[:, 2::3].reshape(-1)[flat] * radius
        keypoints = (keypoints + np.stack((x_offset, y_offset), axis=-1)).astype(np.float32)
        return keypoints, scores

    def _blur_labels(self, labels: np.ndarray) -> np.ndarray:
        """cv2 Gaussian blur (reflect-101 border) of every ``(B, K, H, W)`` label map."""
        batch, n_kpt, height, width = labels.shape
        ks = 2 * self.blur_kernel_size + 1
        maps = np.ascontiguousarray(labels.reshape(-1, height, width).transpose(1, 2, 0), dtype=np.float32)
        chunks = [
            cv2.GaussianBlur(np.ascontiguousarray(maps[..., i : i + _CV_MAX_CHANNELS]), (ks, ks), 0).reshape(
                height, width, -1
            )
            for i in range(0, maps.shape[-1], _CV_MAX_CHANNELS)
        ]
        return np.concatenate(chunks, axis=-1).transpose(2, 0, 1).reshape(batch, n_kpt, height, width)


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
