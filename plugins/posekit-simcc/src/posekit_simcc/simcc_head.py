"""SimCCHead: optional SimpleBaseline deconvs, then two linear classifiers over the flattened maps.

Dimensions: B samples, K keypoints, feature ``(B, C, h, w)`` with ``(w, h) = in_featuremap_size``;
maps ``(B, K, H, W)`` with ``(W, H) = (w, h) * 2 ** len(deconv_out_channels)``; outputs
``simcc_x (B, K, Wx)`` and ``simcc_y (B, K, Wy)``.

state_dict keys are MMPose's: ``deconv_head`` (the layers of a ``HeatmapHead``,
:class:`posekit.nn.HeatmapTrunk`) or ``final_layer``; ``mlp_head_x`` / ``mlp_head_y``; ``loss_module``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from posekit.nn import (
    FinalLayerConfig,
    HeatmapTrunk,
    constant_init,
    final_conv,
    normal_init,
    trunk_map_size,
    trunk_maps,
)
from posekit.registry import build
from posekit.types import CodecConfig, LossConfig
from posekit_simcc._base import SimCCHeadBase


class SimCCHead(SimCCHeadBase):
    """Top-down SimCC head (`SimCC`_, Li et al. 2022).

    Args:
        in_channels: channels of the last feature map.
        out_channels: K, the number of keypoints.
        input_size: model input size ``(w, h)`` in pixels.
        in_featuremap_size: size ``(w, h)`` of the last feature map.
        simcc_split_ratio: SimCC bins per input pixel. Default 2.0.
        deconv_type: ``'heatmap'`` (a ``HeatmapHead``) or ``'vipnas'`` (a ``ViPNASHead``, when a plugin
            registers one) for the deconv layers. Default ``'heatmap'``.
        deconv_out_channels: channels of each stride-2 deconv layer; None or empty: no deconv.
            Default (256, 256, 256).
        deconv_kernel_sizes: kernel of each deconv layer. Default (4, 4, 4).
        deconv_num_groups: groups of each deconv layer (``'vipnas'`` only). Default (16, 16, 16).
        conv_out_channels: channels of each conv layer after the deconvs; None: none.
        conv_kernel_sizes: kernel of each conv layer; None: none.
        final_layer: the conv to K maps (see :class:`FinalLayerConfig`); None: none.
        loss: loss config. Default ``KLDiscretLoss(use_target_weight=True)``.
        decoder: codec config used by ``predict`` (``SimCCLabel``); None: no decoding.

    .. _`SimCC`: https://arxiv.org/abs/2107.03332
    """

    #: a small working instance and the features it takes (``posekit plugins --check``)
    example_config = {
        "in_channels": 8,
        "out_channels": 17,
        "input_size": (64, 48),
        "in_featuremap_size": (4, 4),
        "deconv_out_channels": None,
        "decoder": {"type": "SimCCLabel", "input_size": (64, 48)},
    }
    example_inputs = {"feat_shapes": [(8, 4, 4)]}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: tuple[int, int],
        in_featuremap_size: tuple[int, int],
        simcc_split_ratio: float = 2.0,
        deconv_type: Literal["heatmap", "vipnas"] = "heatmap",
        deconv_out_channels: tuple[int, ...] | None = (256, 256, 256),
        deconv_kernel_sizes: tuple[int, ...] | None = (4, 4, 4),
        deconv_num_groups: tuple[int, ...] | None = (16, 16, 16),
        conv_out_channels: tuple[int, ...] | None = None,
        conv_kernel_sizes: tuple[int, ...] | None = None,
        final_layer: FinalLayerConfig | None = FinalLayerConfig(),
        loss: LossConfig | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.input_size = tuple(input_size)
        self.in_featuremap_size = tuple(in_featuremap_size)
        self.simcc_split_ratio = simcc_split_ratio
        self.deconv_head: nn.Module | None = None
        self.final_layer: nn.Module | None = None
        self.heatmap_size = trunk_map_size(in_featuremap_size, deconv_out_channels)
        if deconv_out_channels:
            if deconv_type == "heatmap":
                deconv, conv = (deconv_out_channels, deconv_kernel_sizes), (conv_out_channels, conv_kernel_sizes)
                self.deconv_head = HeatmapTrunk(in_channels, out_channels, deconv, conv, final_layer)
            else:
                final = None if final_layer is None else FinalLayerConfig.model_validate(final_layer).model_dump()
                cfg = {
                    "type": "ViPNASHead",
                    "in_channels": in_channels,
                    "out_channels": out_channels,
                    "deconv_out_channels": deconv_out_channels,
                    "deconv_num_groups": deconv_num_groups,
                    "conv_out_channels": conv_out_channels,
                    "conv_kernel_sizes": conv_kernel_sizes,
                    "final_layer": final,
                }
                self.deconv_head = build("head", cfg, "deconv_head")
        else:
            self.final_layer = final_conv(in_channels, out_channels, final_layer)
        flatten_dims = self.heatmap_size[0] * self.heatmap_size[1]
        self.mlp_head_x = nn.Linear(flatten_dims, int(input_size[0] * simcc_split_ratio))
        self.mlp_head_y = nn.Linear(flatten_dims, int(input_size[1] * simcc_split_ratio))
        self.loss_module = build("loss", loss or {"type": "KLDiscretLoss", "use_target_weight": True}, "loss")
        self.decoder = build("codec", decoder, "decoder") if decoder is not None else None
        sigma = getattr(self.decoder, "sigma", None)
        self.display_sigma = (float(sigma[0]), float(sigma[1])) if sigma is not None else None
        self.init_weights()

    def init_weights(self) -> None:
        """Convs and deconvs from N(0, 0.001^2), linear layers from N(0, 0.01^2), BatchNorm to 1 / 0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                normal_init(m, std=0.001)
            elif isinstance(m, nn.BatchNorm2d):
                constant_init(m, 1.0)
            elif isinstance(m, nn.Linear):
                normal_init(m, std=0.01)

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """``feats[-1] (B, C, h, w)`` -> ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))``."""
        x = torch.flatten(trunk_maps(self.deconv_head, self.final_layer, feats), 2)
        return self.mlp_head_x(x), self.mlp_head_y(x)
