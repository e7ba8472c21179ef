"""RTMCCHead: RTMPose's SimCC head (large-kernel conv, MLP, gated attention unit, two classifiers).

Dimensions: B samples, K keypoints, feature ``(B, C, h, w)`` with ``(w, h) = in_featuremap_size``;
outputs ``simcc_x (B, K, Wx)`` and ``simcc_y (B, K, Wy)`` with ``Wx = int(w_in * simcc_split_ratio)``
for an input of width ``w_in``.

state_dict keys are MMPose's: ``final_layer`` (Conv2d), ``mlp`` (ScaleNorm ``mlp.0.g``, Linear
``mlp.1``), ``gau`` (RTMCCBlock), ``cls_x`` / ``cls_y`` (Linear), ``loss_module``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from posekit.nn import ScaleNorm, normal_init
from posekit.registry import build
from posekit.types import CodecConfig, LossConfig
from posekit_simcc._base import SimCCHeadBase
from posekit_simcc._layers import GAUConfig, RTMCCBlock


class RTMCCHead(SimCCHeadBase):
    """Top-down SimCC head of RTMPose (2023): conv to K maps, per-keypoint MLP, GAU, x / y classifiers.

    Args:
        in_channels: channels of the last feature map.
        out_channels: K, the number of keypoints.
        input_size: model input size ``(w, h)`` in pixels.
        in_featuremap_size: size ``(w, h)`` of the last feature map.
        simcc_split_ratio: SimCC bins per input pixel. Default 2.0.
        final_layer_kernel_size: kernel of the first conv (same padding). Default 1.
        gau_cfg: the gated attention unit (see :class:`GAUConfig`).
        loss: loss config. Default ``KLDiscretLoss(use_target_weight=True)``.
        decoder: codec config used by ``predict`` (``SimCCLabel``); None: no decoding.
    """

    #: a small working instance and the features it takes (``posekit plugins --check``)
    example_config = {
        "in_channels": 8,
        "out_channels": 17,
        "input_size": (64, 48),
        "in_featuremap_size": (2, 2),
        "final_layer_kernel_size": 3,
        "gau_cfg": {"hidden_dims": 16, "s": 8},
        "decoder": {"type": "SimCCLabel", "input_size": (64, 48), "sigma": (4.9, 5.66), "normalize": False},
    }
    example_inputs = {"feat_shapes": [(8, 2, 2)]}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: tuple[int, int],
        in_featuremap_size: tuple[int, int],
        simcc_split_ratio: float = 2.0,
        final_layer_kernel_size: int = 1,
        gau_cfg: GAUConfig = GAUConfig(),
        loss: LossConfig | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        super().__init__()
        gau = GAUConfig.model_validate(gau_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.input_size = tuple(input_size)
        self.in_featuremap_size = tuple(in_featuremap_size)
        self.simcc_split_ratio = simcc_split_ratio
        flatten_dims = in_featuremap_size[0] * in_featuremap_size[1]
        self.final_layer = nn.Conv2d(
            in_channels, out_channels, final_layer_kernel_size, stride=1, padding=final_layer_kernel_size // 2
        )
        self.mlp = nn.Sequential(ScaleNorm(flatten_dims), nn.Linear(flatten_dims, gau.hidden_dims, bias=False))
        self.gau = RTMCCBlock(
            out_channels,
            gau.hidden_dims,
            gau.hidden_dims,
            s=gau.s,
            expansion_factor=gau.expansion_factor,
            dropout_rate=gau.dropout_rate,
            drop_path=gau.drop_path,
            act_fn=gau.act_fn,
            use_rel_bias=gau.use_rel_bias,
            pos_enc=gau.pos_enc,
        )
        self.cls_x = nn.Linear(gau.hidden_dims, int(input_size[0] * simcc_split_ratio), bias=False)
        self.cls_y = nn.Linear(gau.hidden_dims, int(input_size[1] * simcc_split_ratio), bias=False)
        self.loss_module = build("loss", loss or {"type": "KLDiscretLoss", "use_target_weight": True}, "loss")
        self.decoder = build("codec", decoder, "decoder") if decoder is not None else None
        self.init_weights()

    def init_weights(self) -> None:
        """Convs from N(0, 0.001^2), linear layers from N(0, 0.01^2), zero biases (MMPose's defaults)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                normal_init(m, std=0.001)
            elif isinstance(m, nn.Linear):
                normal_init(m, std=0.01)

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """``feats[-1] (B, C, h, w)`` -> ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))``."""
        x = self.final_layer(feats[-1])  # (B, K, h, w)
        x = self.gau(self.mlp(torch.flatten(x, 2)))  # (B, K, hidden)
        return self.cls_x(x), self.cls_y(x)
