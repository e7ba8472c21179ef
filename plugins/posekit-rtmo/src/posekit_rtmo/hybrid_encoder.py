"""HybridEncoder neck of RTMO (from RT-DETR), as MMPose's ``mmpose/models/necks/hybrid_encoder.py``.

Input: levels ``(B, in_channels[i], H_i, W_i)`` at strides ``feat_strides``. Each is projected to
``hidden_dim`` (1x1 conv + BN); the levels in ``use_encoder_idx`` go through transformer encoder
layers with 2D sine positions; a top-down FPN and a bottom-up PAN of CSPRep layers fuse them;
``output_indices`` picks levels and an optional ``projector`` neck (ChannelMapper) maps them.
Output: a tuple of ``(B, C, H_i, W_i)``. Keys as MMPose's (``input_proj.0.conv``,
``encoder.0.layers.0.self_attn.attn.in_proj_weight``, ``fpn_blocks.0.bottlenecks.0.branch_3x3``, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import ActConfig, ConvModule, NormConfig, as_config, build_activation_layer
from posekit.protocols import BaseNeck
from posekit.registry import build
from posekit.types import NeckConfig
from posekit_rtmo.transformer import DetrTransformerEncoder, EncoderLayerConfig, SinePositionalEncoding

SILU = ActConfig(type="SiLU", inplace=True)


class RepVGGBlock(nn.Module):
    """``act(BN(conv3x3(x)) + BN(conv1x1(x)))`` (keys ``branch_3x3``, ``branch_1x1``); shape kept."""

    def __init__(self, channels: int, act_cfg: ActConfig, norm_cfg: NormConfig = NormConfig(type="BN")) -> None:
        super().__init__()
        self.branch_3x3 = ConvModule(channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None)
        self.branch_1x1 = ConvModule(channels, channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.branch_3x3(x) + self.branch_1x1(x))


class CSPRepLayer(nn.Module):
    """``conv3(bottlenecks(conv1(x)) + conv2(x))``; ``(B, in, H, W)`` -> ``(B, out, H, W)``."""

    def __init__(
        self, in_channels: int, out_channels: int, num_blocks: int, widen_factor: float, act_cfg: ActConfig
    ) -> None:
        super().__init__()
        hidden = int(out_channels * widen_factor)
        bn = NormConfig(type="BN")
        self.conv1 = ConvModule(in_channels, hidden, 1, norm_cfg=bn, act_cfg=act_cfg)
        self.conv2 = ConvModule(in_channels, hidden, 1, norm_cfg=bn, act_cfg=act_cfg)
        self.bottlenecks = nn.Sequential(*(RepVGGBlock(hidden, act_cfg) for _ in range(num_blocks)))
        self.conv3: nn.Module = (
            ConvModule(hidden, out_channels, 1, norm_cfg=bn, act_cfg=act_cfg)
            if hidden != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3(self.bottlenecks(self.conv1(x)) + self.conv2(x))


class HybridEncoder(BaseNeck):
    """Transformer-encoded top level plus FPN/PAN fusion (RTMO's neck).

    Args:
        encoder_cfg: the encoder layers (self-attention, FFN, norms). Default ``EncoderLayerConfig()``.
        projector: a neck applied to the outputs (RTMO: ChannelMapper); default None.
        num_encoder_layers: encoder layers per encoded level. Default 1.
        in_channels: channels of each input level. Default (512, 1024, 2048).
        feat_strides: strides of the input levels. Default (8, 16, 32).
        hidden_dim: channels inside the neck. Default 256.
        use_encoder_idx: levels that go through the encoder. Default (2,).
        pe_temperature: temperature of the 2D sine positions. Default 10000.
        widen_factor: hidden / output channels of the CSPRep layers. Default 1.0.
        deepen_factor: RepVGG blocks per CSPRep layer = round(3 * deepen_factor). Default 1.0.
        spe_learnable: must be False (fixed positions). Default False.
        output_indices: levels to output (after the PAN); default None (all).
        norm_cfg: norm of the input projections and downsample convs. Default BN.
        act_cfg: activation of the FPN/PAN convs. Default SiLU.
    """

    example_config = {
        "in_channels": (8, 16, 32),
        "hidden_dim": 16,
        "deepen_factor": 0.33,
        "widen_factor": 0.5,
        "output_indices": (1, 2),
        "encoder_cfg": {
            "self_attn_cfg": {"embed_dims": 16, "num_heads": 2},
            "ffn_cfg": {"embed_dims": 16, "feedforward_channels": 32, "act_cfg": {"type": "GELU"}},
        },
        "projector": {
            "type": "ChannelMapper",
            "in_channels": (16, 16),
            "kernel_size": 1,
            "out_channels": 16,
            "act_cfg": None,
            "norm_cfg": {"type": "BN"},
            "num_outs": 2,
        },
    }
    example_inputs = {"feat_shapes": [(8, 16, 16), (16, 8, 8), (32, 4, 4)]}

    def __init__(
        self,
        encoder_cfg: EncoderLayerConfig = EncoderLayerConfig(),
        projector: NeckConfig | None = None,
        num_encoder_layers: int = 1,
        in_channels: tuple[int, ...] = (512, 1024, 2048),
        feat_strides: tuple[int, ...] = (8, 16, 32),
        hidden_dim: int = 256,
        use_encoder_idx: tuple[int, ...] = (2,),
        pe_temperature: int = 10000,
        widen_factor: float = 1.0,
        deepen_factor: float = 1.0,
        spe_learnable: bool = False,
        output_indices: tuple[int, ...] | None = None,
        norm_cfg: NormConfig = NormConfig(type="BN", requires_grad=True),
        act_cfg: ActConfig = SILU,
    ) -> None:
        super().__init__()
        if spe_learnable:
            raise ConfigError("HybridEncoder: spe_learnable=True is not supported (RTMO's configs use fixed positions)")
        if not all(0 <= i < len(in_channels) for i in use_encoder_idx):
            raise ConfigError(f"HybridEncoder: use_encoder_idx {use_encoder_idx} must index in_channels {in_channels}")
        encoder_cfg = as_config(EncoderLayerConfig, encoder_cfg, "encoder_cfg")
        if encoder_cfg.self_attn_cfg.embed_dims != hidden_dim:
            raise ConfigError(
                f"HybridEncoder: encoder_cfg.self_attn_cfg.embed_dims ({encoder_cfg.self_attn_cfg.embed_dims}) "
                f"must equal hidden_dim ({hidden_dim})"
            )
        self.in_channels = tuple(in_channels)
        self.hidden_dim = hidden_dim
        self.use_encoder_idx = tuple(use_encoder_idx)
        self.num_encoder_layers = num_encoder_layers
        self.output_indices = None if output_indices is None else tuple(output_indices)
        self.input_proj = nn.ModuleList(
            ConvModule(c, hidden_dim, 1, norm_cfg=norm_cfg, act_cfg=None) for c in in_channels
        )
        if self.use_encoder_idx:
            self.encoder = nn.ModuleList(
                DetrTransformerEncoder(num_encoder_layers, encoder_cfg) for _ in self.use_encoder_idx
            )
        self.sincos_pos_enc = SinePositionalEncoding(hidden_dim // 2, spatial_dim=2, temperature=pe_temperature)
        blocks = round(3 * deepen_factor)
        n = len(in_channels)
        self.lateral_convs = nn.ModuleList(
            ConvModule(hidden_dim, hidden_dim, 1, norm_cfg=norm_cfg, act_cfg=act_cfg) for _ in range(n - 1)
        )
        self.fpn_blocks = nn.ModuleList(
            CSPRepLayer(hidden_dim * 2, hidden_dim, blocks, widen_factor, act_cfg) for _ in range(n - 1)
        )
        self.downsample_convs = nn.ModuleList(
            ConvModule(hidden_dim, hidden_dim, 3, stride=2, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for _ in range(n - 1)
        )
        self.pan_blocks = nn.ModuleList(
            CSPRepLayer(hidden_dim * 2, hidden_dim, blocks, widen_factor, act_cfg) for _ in range(n - 1)
        )
        self.projector = build("neck", projector, where="projector") if projector is not None else None

    def forward(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"HybridEncoder: expected {len(self.in_channels)} feature levels, got {len(inputs)}")
        feats = [proj(x) for proj, x in zip(self.input_proj, inputs, strict=True)]
        if self.num_encoder_layers > 0:
            for encoder, idx in zip(self.encoder, self.use_encoder_idx, strict=True):
                b, c, h, w = feats[idx].shape
                tokens = feats[idx].flatten(2).transpose(1, 2)
                pos = self.sincos_pos_enc(size=(h, w)).transpose(-1, -2).reshape(1, h * w, -1)
                feats[idx] = encoder(tokens, pos).transpose(1, 2).reshape(b, c, h, w)
        n = len(self.in_channels)
        inner = [feats[-1]]
        for j, idx in enumerate(range(n - 1, 0, -1)):
            high = self.lateral_convs[j](inner[0])
            inner[0] = high
            up = F.interpolate(high, scale_factor=2.0, mode="nearest")
            inner.insert(0, self.fpn_blocks[j](torch.cat([up, feats[idx - 1]], dim=1)))
        outs = [inner[0]]
        for idx in range(n - 1):
            down = self.downsample_convs[idx](outs[-1])
            outs.append(self.pan_blocks[idx](torch.cat([down, inner[idx + 1]], dim=1)))
        if self.output_indices is not None:
            outs = [outs[i] for i in self.output_indices]
        return tuple(self.projector(tuple(outs))) if self.projector is not None else tuple(outs)
