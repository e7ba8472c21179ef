"""RTMWHead: RTMPose whole-body's SimCC head, fusing the last two feature levels before the GAU.

Dimensions: B samples, K keypoints (133 for COCO-WholeBody), inputs ``enc_b (B, C/2, 2h, 2w)`` and
``enc_t (B, C, h, w)`` with ``(w, h) = in_featuremap_size`` (CSPNeXtPAFPN's ``out_indices=(1, 2)``);
outputs ``simcc_x (B, K, Wx)`` and ``simcc_y (B, K, Wy)``, ``Wx = int(input_w * simcc_split_ratio)``.

RTMWHead is RTMCCHead (posekit-simcc, obtained through the registry: plugins never import each
other) with a two-level front: ``enc_t`` through ``final_layer`` and ``mlp`` gives half of each
keypoint token, ``enc_b`` fused with ``enc_t`` pixel-shuffled (``ps``, ``conv_dec``) through
``final_layer2`` and ``mlp2`` the other half. The GAU, the classifiers, the loss, flip test,
decoding and export are RTMCCHead's. state_dict keys are MMPose's (``final_layer.conv.weight``,
``final_layer.bn.running_var``, ``conv_dec.*``, ``final_layer2.*``, ``mlp.0.g``, ``mlp2.1.weight``,
``gau.*``, ``cls_x.weight``, ``cls_y.weight``).
"""

from __future__ import annotations

import typing
from typing import Any

import torch
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import ActConfig, ConvModule, NormConfig, ScaleNorm
from posekit.registry import get

#: RTMPose's SimCC head and its gated-attention-unit config, as registered by posekit-simcc
RTMCCHead = get("head", "RTMCCHead")
GAUConfig = typing.get_type_hints(RTMCCHead.__init__)["gau_cfg"]

#: the pixel-shuffle factor between the two input levels (MMPose's ``ps``)
SHUFFLE = 2


class RTMWHead(RTMCCHead):  # type: ignore[misc, valid-type]
    """Top-down SimCC head of RTMW (RTMPose-Wholebody, 2023).

    Args:
        in_channels: channels C of the coarser input ``enc_t``; the finer ``enc_b`` has C/2.
        out_channels: K, the number of keypoints.
        in_featuremap_size: size ``(w, h)`` of ``enc_t`` (input size / 32).
        final_layer_kernel_size: kernel of the front convs (same padding). Default 1.
        gau_cfg: the gated attention unit (RTMCCHead's ``GAUConfig``); its ``hidden_dims`` must be even.
        input_size, simcc_split_ratio, loss, decoder: as RTMCCHead's.
    """

    #: a small working instance and the features it takes (``posekit plugins --check``)
    example_config = {
        "in_channels": 16,
        "out_channels": 17,
        "input_size": (64, 96),
        "in_featuremap_size": (2, 3),
        "final_layer_kernel_size": 3,
        "gau_cfg": {"hidden_dims": 16, "s": 8, "act_fn": "SiLU"},
        "decoder": {"type": "SimCCLabel", "input_size": (64, 96), "sigma": (4.9, 5.66), "normalize": False},
    }
    example_inputs = {"feat_shapes": [(8, 6, 4), (16, 3, 2)]}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        in_featuremap_size: tuple[int, int],
        final_layer_kernel_size: int = 1,
        gau_cfg: GAUConfig = GAUConfig(),
        **kwargs: Any,
    ) -> None:
        hidden = GAUConfig.model_validate(gau_cfg).hidden_dims
        if hidden % 2 or in_channels % (SHUFFLE**2):
            raise ConfigError(
                f"RTMWHead: gau_cfg.hidden_dims ({hidden}) must be even and in_channels ({in_channels}) "
                f"a multiple of {SHUFFLE**2} (two half-width tokens; a {SHUFFLE}x pixel shuffle)"
            )
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            in_featuremap_size=in_featuremap_size,
            final_layer_kernel_size=final_layer_kernel_size,
            gau_cfg=gau_cfg,
            **kwargs,
        )
        flatten = in_featuremap_size[0] * in_featuremap_size[1]
        kernel, pad = final_layer_kernel_size, final_layer_kernel_size // 2
        bn_relu = {"norm_cfg": NormConfig(type="BN"), "act_cfg": ActConfig(type="ReLU")}
        self.ps = nn.PixelShuffle(SHUFFLE)
        self.conv_dec = ConvModule(in_channels // SHUFFLE**2, in_channels // 4, kernel, padding=pad, **bn_relu)
        self.final_layer = ConvModule(in_channels, out_channels, kernel, padding=pad, **bn_relu)
        self.final_layer2 = ConvModule(
            in_channels // SHUFFLE + in_channels // 4, out_channels, kernel, padding=pad, **bn_relu
        )
        self.mlp = nn.Sequential(ScaleNorm(flatten), nn.Linear(flatten, hidden // 2, bias=False))
        fine = flatten * SHUFFLE**2
        self.mlp2 = nn.Sequential(ScaleNorm(fine), nn.Linear(fine, hidden // 2, bias=False))
        self.init_weights()

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """``(..., enc_b (B, C/2, 2h, 2w), enc_t (B, C, h, w))`` -> ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))``."""
        enc_b, enc_t = feats[-2], feats[-1]
        tokens_t = self.mlp(torch.flatten(self.final_layer(enc_t), 2))  # (B, K, hidden / 2)
        enc_b = torch.cat([self.conv_dec(self.ps(enc_t)), enc_b], dim=1)
        tokens_b = self.mlp2(torch.flatten(self.final_layer2(enc_b), 2))  # (B, K, hidden / 2)
        x = self.gau(torch.cat([tokens_t, tokens_b], dim=2))
        return self.cls_x(x), self.cls_y(x)
