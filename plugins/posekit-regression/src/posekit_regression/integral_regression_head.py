"""IntegralRegressionHead: heatmaps turned into coordinates by a soft-argmax (integral regression, DSNT).

Dimensions: B samples, K keypoints, feature ``(B, C, h, w)`` with ``(w, h) = in_featuremap_size``;
heatmaps ``(B, K, H, W)`` with ``(W, H) = (w, h) * 2 ** len(deconv_out_channels)``; output
coordinates ``(B, K, 2)`` normalized to [0, 1) (``x = sum_p softmax(beta * map)_p * p_x / W``).

state_dict keys are MMPose's: ``simplebaseline_head`` (the layers of a ``HeatmapHead``,
:class:`posekit.nn.HeatmapTrunk`) or ``final_layer``; ``linspace_x`` / ``linspace_y`` (frozen
parameters); ``loss_module``. A plain HeatmapHead checkpoint (``conv_layers.*``, ``final_layer.*``)
is mapped into ``simplebaseline_head`` on load, as MMPose does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.codec_utils import flip_coordinates, flip_heatmaps
from posekit.nn import FinalLayerConfig, HeatmapTrunk, final_conv, trunk_map_size, trunk_maps
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_regression._base import RegressionHeadBase, coordinate_accuracy


class IntegralRegressionHead(RegressionHeadBase):
    """Top-down integral regression head (`IPR`_, Sun et al. 2018) with a soft-argmax (DSNT) layer.

    Args:
        in_channels: channels of the last feature map.
        in_featuremap_size: size ``(w, h)`` of the last feature map.
        num_joints: K, the number of keypoints.
        debias: remove the soft-argmax bias (Gu et al. 2021). Default False.
        beta: softmax temperature on the maps. Default 1.0.
        deconv_out_channels: channels of each stride-2 deconv layer; None or empty: no deconv.
            Default (256, 256, 256).
        deconv_kernel_sizes: kernel of each deconv layer. Default (4, 4, 4).
        conv_out_channels: channels of each conv layer after the deconvs; None: none.
        conv_kernel_sizes: kernel of each conv layer; None: none.
        final_layer: the conv to K maps (see :class:`FinalLayerConfig`); None: none.
        loss: loss config. Default ``SmoothL1Loss(use_target_weight=True)``.
        decoder: codec config used by ``predict`` (``IntegralRegressionLabel``); None: no decoding.

    .. _`IPR`: https://arxiv.org/abs/1711.08229
    """

    #: a small working instance and the features it takes (``posekit plugins --check``)
    example_config = {
        "in_channels": 8,
        "in_featuremap_size": (2, 2),
        "num_joints": 17,
        "deconv_out_channels": (8, 8),
        "deconv_kernel_sizes": (4, 4),
        "decoder": {"type": "IntegralRegressionLabel", "input_size": (64, 48), "heatmap_size": (8, 8), "sigma": 1.0},
    }
    example_inputs = {"feat_shapes": [(8, 2, 2)]}

    def __init__(
        self,
        in_channels: int,
        in_featuremap_size: tuple[int, int],
        num_joints: int,
        debias: bool = False,
        beta: float = 1.0,
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
        self.num_joints = num_joints
        self.debias = debias
        self.beta = beta
        self.simplebaseline_head: nn.Module | None = None
        self.final_layer: nn.Module | None = None
        self.heatmap_size = trunk_map_size(in_featuremap_size, deconv_out_channels)
        if deconv_out_channels:
            deconv, conv = (deconv_out_channels, deconv_kernel_sizes), (conv_out_channels, conv_kernel_sizes)
            self.simplebaseline_head = HeatmapTrunk(in_channels, num_joints, deconv, conv, final_layer)
        else:
            self.final_layer = final_conv(in_channels, num_joints, final_layer)
        width, height = self.heatmap_size
        self.linspace_x = nn.Parameter(torch.arange(0.0, 1.0 * width, 1).reshape(1, 1, 1, width) / width, False)
        self.linspace_y = nn.Parameter(torch.arange(0.0, 1.0 * height, 1).reshape(1, 1, height, 1) / height, False)
        self.loss_module = build("loss", loss or {"type": "SmoothL1Loss", "use_target_weight": True}, "loss")
        self.decoder = build("codec", decoder, "decoder") if decoder is not None else None
        self._register_load_state_dict_pre_hook(self._map_heatmap_head_keys)
        self.init_weights()

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """``feats[-1] (B, C, h, w)`` -> coordinates ``(B, K, 2)`` in [0, 1) and softmax maps ``(B, K, H, W)``."""
        maps = trunk_maps(self.simplebaseline_head, self.final_layer, feats)
        b, k, h, w = maps.shape
        heatmaps = F.softmax((maps * self.beta).reshape(b, k, h * w), dim=2).reshape(b, k, h, w)
        pred_x = (heatmaps * self.linspace_x).reshape(b, k, -1).sum(dim=2, keepdim=True)
        pred_y = (heatmaps * self.linspace_y).reshape(b, k, -1).sum(dim=2, keepdim=True)
        if self.debias:
            c = maps.reshape(b, k, h * w).exp().sum(dim=2).reshape(b, k, 1)
            pred_x = c / (c - 1) * (pred_x - 1 / (2 * c))
            pred_y = c / (c - 1) * (pred_y - 1 / (2 * c))
        return torch.cat([pred_x, pred_y], dim=-1), heatmaps

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Loss against ``batch.targets['keypoint_labels'] (B, 1, K, 2)`` weighted by ``keypoint_weights (B, 1, K)``.

        Returns:
            ``loss_kpt`` and, with ``train_cfg.compute_acc``, ``acc_pose`` (PCK@0.05 in normalized coordinates).
        """
        pred, _ = self.forward(feats)
        labels = batch.instance_targets("keypoint_labels", pred)
        weights = batch.instance_targets("keypoint_weights", pred)
        losses = {"loss_kpt": self.loss_module(pred, labels, weights)}
        if train_cfg.compute_acc:
            losses["acc_pose"] = coordinate_accuracy(pred, labels, weights)
        return losses

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """Decode each sample's coordinates into keypoints in input-image pixels.

        With ``test_cfg.flip_test``, ``feats`` is ``(feats, flipped_feats)``: coordinates are flipped
        back as in :class:`RegressionHeadBase`, the softmax maps with ``flip_heatmaps``.

        Returns:
            one :class:`InstanceData` per sample: ``keypoints (1, K, 2)``, ``keypoint_scores (1, K)``
            and, with ``output_heatmaps``, the softmax maps ``heatmaps (K, H, W)``.
        """
        if not test_cfg.output_heatmaps:
            return super().predict(feats, batch, test_cfg)
        if self.decoder is None:
            raise RuntimeError(f"{type(self).__name__}.predict needs a decoder: set the head's `decoder` config")
        sample = batch.samples[0]
        if test_cfg.flip_test:
            feats_orig, feats_flip = feats
            coords, heatmaps = self.forward(feats_orig)
            coords_flip, heatmaps_flip = self.forward(feats_flip)
            coords_flip = flip_coordinates(coords_flip, sample.flip_indices, test_cfg.shift_coords, sample.input_size)
            heatmaps_flip = flip_heatmaps(heatmaps_flip, sample.flip_indices, "heatmap", test_cfg.shift_heatmap)
            coords, heatmaps = (coords + coords_flip) * 0.5, (heatmaps + heatmaps_flip) * 0.5
        else:
            coords, heatmaps = self.forward(feats)
        decoded = self.decoder.batch_decode(coords.detach().cpu().float().numpy()[:, None])
        maps = heatmaps.detach().cpu().float().numpy()
        return [
            InstanceData(keypoints=k, keypoint_scores=s, heatmaps=m) for (k, s), m in zip(decoded, maps, strict=True)
        ]

    def _map_heatmap_head_keys(self, state_dict: dict[str, Tensor], prefix: str, *args: Any) -> None:
        """Load a HeatmapHead's weights into ``simplebaseline_head`` (MMPose's key mapping)."""
        if self.simplebaseline_head is None:
            return
        for key in [k for k in state_dict if k.startswith(prefix)]:
            name = key[len(prefix) :]
            if name.startswith("conv_layers."):
                state_dict[prefix + "simplebaseline_head.deconv_layers." + name[12:]] = state_dict.pop(key)
            elif name.startswith("final_layer."):
                state_dict[prefix + "simplebaseline_head." + name] = state_dict.pop(key)
