"""SimCCLabel: keypoints as two 1D classification targets over sub-pixel bins (SimCC / RTMPose).

Dimensions: N instances, K keypoints, B samples of a batch; input image size ``[w, h]``;
``Wx = round(w * simcc_split_ratio)`` and ``Wy = round(h * simcc_split_ratio)`` bins.

Encoded (``encode``):

- ``keypoint_x_labels`` (N, K, Wx) float32: x-axis labels in bin space;
- ``keypoint_y_labels`` (N, K, Wy) float32: y-axis labels in bin space;
- ``keypoint_weights`` (N, K): per-keypoint loss weights.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from posekit.codec_utils import check_array, check_keypoints
from posekit.errors import ConfigError
from posekit.protocols import BaseKeypointCodec
from posekit_simcc.simcc_utils import get_simcc_maximum, refine_simcc_dark


class SimCCLabel(BaseKeypointCodec):
    """Generate keypoint representation via the "SimCC" approach (`SimCC`_, Li et al. 2022).

    Args:
        input_size: input image size ``(w, h)`` in pixels.
        smoothing_type: ``'gaussian'`` (Gaussian labels) or ``'standard'`` (one-hot labels with
            optional label smoothing). Defaults to ``'gaussian'``.
        sigma: Gaussian sigma in bins, one value or ``(sigma_x, sigma_y)``. Defaults to 6.0.
        simcc_split_ratio: bins per input pixel. Defaults to 2.0.
        label_smooth_weight: probability mass spread over the other bins (``'standard'`` only),
            in [0, 1]. Defaults to 0.0.
        normalize: divide Gaussian labels by ``sigma * sqrt(2 pi)``. Defaults to True.
        use_dark: refine decoded maxima with 1D DarkPose. Defaults to False.
        decode_visibility: also decode a visibility per keypoint (softmax of the sharpened labels);
            ``decode`` then returns ``(keypoints, (scores, visibility))`` as MMPose. Defaults to False.
        decode_beta: sharpening factor of the visibility softmax. Defaults to 150.0.

    .. _`SimCC`: https://arxiv.org/abs/2107.03332
    """

    example_config = {"input_size": (192, 256)}  # a small working instance (posekit plugins --check)

    label_mapping_table = {
        "keypoint_x_labels": "keypoint_x_labels",
        "keypoint_y_labels": "keypoint_y_labels",
        "keypoint_weights": "keypoint_weights",
    }

    def __init__(
        self,
        input_size: tuple[int, int],
        smoothing_type: Literal["gaussian", "standard"] = "gaussian",
        sigma: float | tuple[float, float] = 6.0,
        simcc_split_ratio: float = 2.0,
        label_smooth_weight: float = 0.0,
        normalize: bool = True,
        use_dark: bool = False,
        decode_visibility: bool = False,
        decode_beta: float = 150.0,
    ) -> None:
        if smoothing_type not in ("gaussian", "standard"):
            raise ConfigError(f"SimCCLabel: smoothing_type must be 'gaussian' or 'standard', got {smoothing_type!r}")
        if smoothing_type == "gaussian" and label_smooth_weight > 0:
            raise ConfigError("SimCCLabel: label_smooth_weight is only used with smoothing_type='standard'")
        if not 0.0 <= label_smooth_weight <= 1.0:
            raise ConfigError(f"SimCCLabel: label_smooth_weight must be in [0, 1], got {label_smooth_weight}")
        self.input_size = tuple(input_size)
        self.smoothing_type = smoothing_type
        self.sigma = np.array([sigma, sigma] if isinstance(sigma, (int, float)) else sigma, dtype=np.float64)
        if self.sigma.shape != (2,):
            raise ConfigError(f"SimCCLabel: sigma must be a number or (sigma_x, sigma_y), got {sigma!r}")
        self.simcc_split_ratio = simcc_split_ratio
        self.label_smooth_weight = label_smooth_weight
        self.normalize = normalize
        self.use_dark = use_dark
        self.decode_visibility = decode_visibility
        self.decode_beta = decode_beta
        self.num_bins = (
            int(np.around(self.input_size[0] * simcc_split_ratio)),
            int(np.around(self.input_size[1] * simcc_split_ratio)),
        )
        # x bins then y bins in one row, with each bin's axis, so both labels come from one pass
        wx, wy = self.num_bins
        self._grid = np.concatenate([np.arange(wx), np.arange(wy)]).astype(np.float32)
        self._axis = np.repeat([0, 1], self.num_bins)
        self._neg_denom = (-2 * self.sigma**2).astype(np.float32)[self._axis]
        self._norm = (self.sigma * np.sqrt(np.pi * 2)).astype(np.float32)[self._axis]
        # DarkPose blur kernels from sigma: odd, about 20 sigma / 3 bins wide
        blur = ((self.sigma * 20 - 7) // 3).astype(int)
        self._blur = tuple(int(b - (b % 2 == 0)) for b in blur)

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Encode keypoints into SimCC labels.

        Args:
            keypoints: ``(N, K, 2)`` in input image space.
            keypoints_visible: ``(N, K)`` visibilities; all visible when None.

        Returns:
            ``keypoint_x_labels`` (N, K, Wx), ``keypoint_y_labels`` (N, K, Wy) float32 and
            ``keypoint_weights`` (N, K).
        """
        keypoints_visible = check_keypoints(keypoints, keypoints_visible)
        mu = np.around(keypoints * self.simcc_split_ratio)  # bin of each keypoint (integral values)
        labelled = keypoints_visible >= 0.5
        if self.smoothing_type == "gaussian":
            labels, outside = self._gaussian(mu, labelled)
        else:
            labels, outside = self._standard(mu.astype(np.int64), labelled)
        weights = keypoints_visible.copy()
        weights[labelled & outside] = 0
        wx = self.num_bins[0]
        return {
            "keypoint_x_labels": labels[..., :wx],
            "keypoint_y_labels": labels[..., wx:],
            "keypoint_weights": weights,
        }

    def _gaussian(self, mu: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x and y Gaussian labels side by side ``(N, K, Wx + Wy)``, for the labelled keypoints
        whose 3-sigma range touches the bins; and which keypoints are outside ``(N, K)``."""
        radius = self.sigma * 3
        outside = ((mu - radius >= self.num_bins) | (mu + radius + 1 < 0)).any(axis=-1)
        wx = self.num_bins[0]
        mu = mu.astype(np.float32)
        d = np.empty((*mu.shape[:2], len(self._grid)), dtype=np.float32)
        np.subtract(self._grid[:wx], mu[..., :1], out=d[..., :wx])
        np.subtract(self._grid[wx:], mu[..., 1:], out=d[..., wx:])
        labels = np.exp((d * d) / self._neg_denom)
        labels *= (labelled & ~outside)[..., None]
        if self.normalize:
            labels /= self._norm
        return labels, outside

    def _standard(self, mu: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x and y one-hot labels (with label smoothing) side by side ``(N, K, Wx + Wy)``, for the
        labelled keypoints inside the bins; and which keypoints are outside ``(N, K)``."""
        wx, wy = self.num_bins
        outside = ((mu >= self.num_bins) | (mu < 0)).any(axis=-1)
        draw = labelled & ~outside
        weight = self.label_smooth_weight
        labels = np.zeros((*mu.shape[:2], wx + wy), dtype=np.float32)
        if weight > 0:
            labels[draw] = np.where(self._axis == 0, weight / (wx - 1), weight / (wy - 1))
        n, k = np.nonzero(draw)
        labels[n, k, mu[n, k, 0]] = 1.0 - weight
        labels[n, k, wx + mu[n, k, 1]] = 1.0 - weight
        return labels, outside

    def decode(
        self, simcc_x: np.ndarray, simcc_y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, np.ndarray]]:
        """Decode SimCC vectors of one sample.

        Args:
            simcc_x: ``(N, K, Wx)`` or ``(K, Wx)`` x-axis vectors.
            simcc_y: ``(N, K, Wy)`` or ``(K, Wy)`` y-axis vectors.

        Returns:
            ``keypoints (N, K, 2)`` float32 in input image space (N = 1 for the 2-D form) and
            ``scores (N, K)``; with ``decode_visibility`` the second item is
            ``(scores (N, K), visibility (N, K))``.
        """
        wx, wy = self.num_bins
        if getattr(simcc_x, "ndim", None) == 2:
            check_array("simcc_x", simcc_x, ("K", wx))
            check_array("simcc_y", simcc_y, (simcc_x.shape[0], wy))
            return self._decode(simcc_x[None], simcc_y[None])
        check_array("simcc_x", simcc_x, ("N", "K", wx))
        check_array("simcc_y", simcc_y, (*simcc_x.shape[:2], wy))
        return self._decode(simcc_x, simcc_y)

    def batch_decode(
        self, batch_simcc_x: np.ndarray, batch_simcc_y: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray | tuple[np.ndarray, np.ndarray]]]:
        """Decode a batch at once: ``(B, K, Wx)``, ``(B, K, Wy)`` -> one ``decode`` result per sample.

        Each result is ``keypoints (1, K, 2)`` and ``scores (1, K)`` (or ``(scores, visibility)``).
        """
        wx, wy = self.num_bins
        check_array("batch_simcc_x", batch_simcc_x, ("B", "K", wx))
        check_array("batch_simcc_y", batch_simcc_y, (*batch_simcc_x.shape[:2], wy))
        keypoints, scores = self._decode(batch_simcc_x, batch_simcc_y)
        if self.decode_visibility:
            score, visibility = scores
            return [(keypoints[i : i + 1], (score[i : i + 1], visibility[i : i + 1])) for i in range(len(keypoints))]
        return [(keypoints[i : i + 1], scores[i : i + 1]) for i in range(len(keypoints))]

    def _decode(
        self, simcc_x: np.ndarray, simcc_y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, np.ndarray]]:
        """``(N, K, Wx)``, ``(N, K, Wy)`` -> keypoints (N, K, 2) in input space and scores."""
        keypoints, scores = get_simcc_maximum(simcc_x, simcc_y)
        if self.use_dark:
            keypoints[..., 0] = refine_simcc_dark(keypoints[..., 0], simcc_x, self._blur[0])
            keypoints[..., 1] = refine_simcc_dark(keypoints[..., 1], simcc_y, self._blur[1])
        keypoints /= np.float32(self.simcc_split_ratio)
        if self.decode_visibility:
            beta, sigma = np.float32(self.decode_beta), self.sigma.astype(np.float32)
            _, visibility = get_simcc_maximum(simcc_x * beta * sigma[0], simcc_y * beta * sigma[1], apply_softmax=True)
            return keypoints, (scores, visibility)
        return keypoints, scores

    def decode_targets(self, encoded: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Decode ``encode``'s own labels: ``keypoints (N, K, 2)``, ``scores (N, K)``."""
        keypoints, scores = self.decode(encoded["keypoint_x_labels"], encoded["keypoint_y_labels"])
        return keypoints, scores[0] if self.decode_visibility else scores
