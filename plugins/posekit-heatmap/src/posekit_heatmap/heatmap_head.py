"""HeatmapHead: deconvolutions, convolutions and a final conv from a feature map to keypoint heatmaps.

Dimensions: B samples, K keypoints, feature ``(B, C, h, w)``, heatmaps ``(B, K, H, W)`` with
``H = h * 2 ** len(deconv_out_channels)``.

Layers and state_dict keys are MMPose's ``HeatmapHead`` (SimpleBaseline, Xiao et al. 2018):
``deconv_layers`` (ConvTranspose2d, BatchNorm2d, ReLU per layer), ``conv_layers`` (Conv2d,
BatchNorm2d, ReLU), ``final_layer`` (Conv2d), ``loss_module``; MMPose 0.x checkpoints whose
``final_layer`` also held the intermediate convs are renamed on load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.codec_utils import flip_heatmaps, get_heatmap_maximum
from posekit.metrics.functional import keypoint_pck_accuracy
from posekit.nn import FinalLayerConfig, heatmap_layers, init_heatmap_layers
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_heatmap.msra_heatmap import MSRAHeatmap


def _stacked_target(batch: PoseBatch, key: str, like: Tensor) -> Tensor:
    """``batch.targets[key]`` as one ``(B, ...)`` tensor on ``like``'s device and dtype."""
    if key not in batch.targets:
        raise KeyError(f"batch.targets has no {key!r} (keys: {sorted(batch.targets)}); is the codec a heatmap codec?")
    value = batch.targets[key]
    if isinstance(value, list):
        value = torch.stack([torch.as_tensor(v) for v in value])
    return value.to(like)


def pose_pck_accuracy(
    output: np.ndarray, target: np.ndarray, mask: np.ndarray, thr: float = 0.05
) -> tuple[np.ndarray, float, int]:
    """PCK of heatmap maxima, normalised by the heatmap size (MMPose's ``pose_pck_accuracy``).

    Args:
        output: predicted heatmaps ``(N, K, H, W)``.
        target: target heatmaps ``(N, K, H, W)``.
        mask: ``(N, K)`` bool, which keypoints count.
        thr: threshold on the distance divided by ``(H, W)`` (MMPose's x-by-H, y-by-W order). Default 0.05.

    Returns:
        ``(acc (K,), avg_acc, cnt)`` as :func:`posekit.metrics.functional.keypoint_pck_accuracy`.
    """
    n, _, height, width = output.shape
    normalize = np.tile(np.array([[height, width]]), (n, 1))
    pred, _ = get_heatmap_maximum(output)
    gt, _ = get_heatmap_maximum(target)
    return keypoint_pck_accuracy(pred, gt, mask, thr, normalize)


def heatmap_accuracy(pred: Tensor, gt: Tensor, weights: Tensor) -> Tensor:
    """PCK@0.05 of the maxima of ``pred`` against ``gt`` ``(B, K, H, W)`` over keypoints weighted > 0 ``(B, K)``."""
    _, avg_acc, _ = pose_pck_accuracy(
        pred.detach().cpu().float().numpy(),
        gt.detach().cpu().float().numpy(),
        weights.detach().cpu().float().numpy() > 0,
    )
    return torch.tensor(avg_acc, device=pred.device)


def decode_heatmaps(heatmaps: Tensor, scale_factor: Sequence[float]) -> tuple[Tensor, Tensor]:
    """MSRA heatmap decoding in torch ops (ONNX export): argmax plus MMPose's quarter-pixel shift.

    Args:
        heatmaps: ``(B, K, H, W)``.
        scale_factor: ``(sx, sy)`` from heatmap to input pixels.

    Returns:
        ``keypoints (B, K, 2)`` in input pixels (``-1 * scale`` where the maximum is <= 0) and
        ``scores (B, K)`` (the maxima), as :class:`MSRAHeatmap` (not unbiased) decodes.
    """
    b, k, h, w = heatmaps.shape
    scores, index = heatmaps.reshape(b, k, h * w).max(dim=-1)
    x = torch.where(scores > 0, index % w, torch.full_like(index, -1))
    y = torch.where(scores > 0, torch.div(index, w, rounding_mode="floor"), torch.full_like(index, -1))
    padded = F.pad(heatmaps, (1, 1, 1, 1)).reshape(b, k, (h + 2) * (w + 2))
    xc, yc = x.clamp(0, w - 1), y.clamp(0, h - 1)

    def at(yy: Tensor, xx: Tensor) -> Tensor:
        return padded.gather(-1, ((yy + 1) * (w + 2) + xx + 1).unsqueeze(-1)).squeeze(-1)

    dx = at(yc, xc + 1) - at(yc, xc - 1)
    dy = at(yc + 1, xc) - at(yc - 1, xc)
    zero = torch.zeros_like(dx)
    dx = torch.where((x > 1) & (x < w - 1) & (y > 0) & (y < h), dx, zero)
    dy = torch.where((y > 1) & (y < h - 1) & (x > 0) & (x < w), dy, zero)
    keypoints = torch.stack([x.float() + torch.sign(dx) * 0.25, y.float() + torch.sign(dy) * 0.25], dim=-1)
    return keypoints * torch.tensor(scale_factor, dtype=keypoints.dtype), scores


class HeatmapHead(BaseHead):
    """Top-down heatmap head (`Simple Baselines`_): deconvs, convs, then a final conv to K heatmaps.

    Args:
        in_channels: channels of the last feature map.
        out_channels: K, the number of heatmaps.
        deconv_out_channels: channels of each stride-2 deconv layer; None or empty: no deconv.
            Default (256, 256, 256).
        deconv_kernel_sizes: kernel of each deconv layer (2, 3 or 4). Default (4, 4, 4).
        conv_out_channels: channels of each conv layer after the deconvs; None: none.
        conv_kernel_sizes: kernel of each conv layer; None: none.
        final_layer: the last conv (see :class:`FinalLayerConfig`); None: no final layer.
        loss: loss config. Default ``KeypointMSELoss(use_target_weight=True)``.
        decoder: codec config used by ``predict`` (e.g. ``MSRAHeatmap``); None: no decoding.

    .. _`Simple Baselines`: https://arxiv.org/abs/1804.06208
    """

    #: a small working instance and the features it takes (``posekit plugins --check``)
    example_config = {
        "in_channels": 8,
        "out_channels": 17,
        "deconv_out_channels": (8,),
        "deconv_kernel_sizes": (4,),
        "decoder": {"type": "MSRAHeatmap", "input_size": (48, 64), "heatmap_size": (12, 16), "sigma": 2.0},
    }
    example_inputs = {"feat_shapes": [(8, 8, 6)]}

    _version = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        deconv_out_channels: tuple[int, ...] | None = (256, 256, 256),
        deconv_kernel_sizes: tuple[int, ...] | None = (4, 4, 4),
        conv_out_channels: tuple[int, ...] | None = None,
        conv_kernel_sizes: tuple[int, ...] | None = None,
        final_layer: FinalLayerConfig | None = FinalLayerConfig(),
        loss: LossConfig | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        deconv, conv = (deconv_out_channels, deconv_kernel_sizes), (conv_out_channels, conv_kernel_sizes)
        layers = heatmap_layers(in_channels, out_channels, deconv, conv, final_layer)
        self.deconv_layers, self.conv_layers, self.final_layer = layers
        self.loss_module = build("loss", loss or {"type": "KeypointMSELoss", "use_target_weight": True}, "loss")
        self.decoder = build("codec", decoder, "decoder") if decoder is not None else None
        self._register_load_state_dict_pre_hook(self._rename_v1_keys)
        self.init_weights()

    def init_weights(self) -> None:
        """Convs and deconvs from N(0, 0.001^2) with zero bias, BatchNorm to 1 / 0 (MMPose's defaults)."""
        init_heatmap_layers(self)

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        """``feats[-1] (B, C, h, w)`` -> heatmaps ``(B, K, H, W)``."""
        return self.final_layer(self.conv_layers(self.deconv_layers(feats[-1])))

    def predict_heatmaps(self, feats: tuple[Tensor, ...]) -> Tensor:
        """The heatmaps ``(B, K, H, W)`` that ``predict`` decodes: ``forward``'s (a multi-stage head's last)."""
        return self.forward(feats)

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Heatmap loss against ``batch.targets['heatmaps'] (B, K, H, W)`` weighted by ``keypoint_weights (B, 1, K)``.

        Returns:
            ``loss_kpt`` and, with ``train_cfg.compute_acc``, ``acc_pose`` (PCK@0.05 of the heatmap maxima).
        """
        pred = self.forward(feats)
        gt = _stacked_target(batch, "heatmaps", pred)
        if gt.shape != pred.shape:
            raise ValueError(
                f"batch.targets['heatmaps']: expected shape {tuple(pred.shape)} (the head's output), "
                f"got {tuple(gt.shape)}"
            )
        weights = batch.instance_targets("keypoint_weights", pred)
        losses = {"loss_kpt": self.loss_module(pred, gt, weights)}
        if train_cfg.compute_acc:
            losses["acc_pose"] = heatmap_accuracy(pred, gt, weights)
        return losses

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """Decode each sample's heatmaps into keypoints in input-image pixels.

        With ``test_cfg.flip_test``, ``feats`` is ``(feats, flipped_feats)``; the flipped heatmaps are
        mapped back with ``batch.samples[0].flip_indices``, ``flip_mode`` and ``shift_heatmap``
        (MMPose's ``flip_heatmaps``) and averaged with the others.

        Returns:
            one :class:`InstanceData` per sample: ``keypoints (1, K, 2)``, ``keypoint_scores (1, K)``
            and, with ``output_heatmaps``, ``heatmaps (K, H, W)``.
        """
        if self.decoder is None:
            raise RuntimeError(f"{type(self).__name__}.predict needs a decoder: set the head's `decoder` config")
        if test_cfg.flip_test:
            feats_orig, feats_flip = feats
            flipped = flip_heatmaps(
                self.predict_heatmaps(feats_flip),
                batch.samples[0].flip_indices,
                test_cfg.flip_mode,
                test_cfg.shift_heatmap,
            )
            heatmaps = (self.predict_heatmaps(feats_orig) + flipped) * 0.5
        else:
            heatmaps = self.predict_heatmaps(feats)
        maps = heatmaps.detach().cpu().float().numpy()
        return [
            InstanceData(keypoints=k, keypoint_scores=s, heatmaps=m if test_cfg.output_heatmaps else None)
            for (k, s), m in zip(self.decoder.batch_decode(maps), maps, strict=True)
        ]

    def export_outputs(
        self, outputs: Tensor, flip_outputs: Tensor | None, flip_indices: Sequence[int], test_cfg: TestCfg
    ) -> tuple[Tensor]:
        """Heatmaps ``(B, K, H, W)``, the flipped ones mapped back and averaged in as ``predict`` does."""
        if flip_outputs is None:
            return (outputs,)
        flipped = flip_heatmaps(flip_outputs, flip_indices, test_cfg.flip_mode, test_cfg.shift_heatmap)
        return ((outputs + flipped) * 0.5,)

    def export_decode(self, outputs: tuple[Tensor, ...]) -> tuple[Tensor, Tensor] | None:
        """:func:`decode_heatmaps` for an :class:`MSRAHeatmap` decoder that is not unbiased; None otherwise
        (UDP, DARK and Megvii decoding run in the codec at run time)."""
        if type(self.decoder) is not MSRAHeatmap or self.decoder.unbiased:
            return None
        heatmaps = outputs[0]
        h, w = heatmaps.shape[-2:]
        input_w, input_h = self.decoder.input_size
        return decode_heatmaps(heatmaps, (input_w / w, input_h / h))

    def _rename_v1_keys(self, state_dict: dict[str, Tensor], prefix: str, local_metadata: dict, *args: Any) -> None:
        """MMPose < 1.0 kept the intermediate convs in ``final_layer.N``: move them to ``conv_layers.N``."""
        if local_metadata.get("version", 0) >= self._version:
            return
        for key in [k for k in state_dict if k.startswith(prefix + "final_layer.")]:
            parts = key[len(prefix) :].split(".")
            if len(parts) != 3:
                continue
            index = int(parts[1])
            if isinstance(self.conv_layers, nn.Sequential) and index < len(self.conv_layers):
                new = f"{prefix}conv_layers.{index}.{parts[2]}"
            else:
                new = f"{prefix}final_layer.{parts[2]}"
            state_dict[new] = state_dict.pop(key)
