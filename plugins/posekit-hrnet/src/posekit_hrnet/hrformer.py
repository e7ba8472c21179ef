"""HRFormer backbone, as MMPose's ``mmpose/models/backbones/hrformer.py``: HRNet's layout with transformer branches.

Input ``(B, in_channels, H, W)``. HRNet's stem and Bottleneck ``layer1`` (stride 4), then stages 2-4 of
parallel branches at strides 4, 8, 16, 32 built from :class:`HRFormerBlock` (local-window self-attention and
a depthwise-conv FFN over ``(B, H_i * W_i, C_i)`` tokens), fused across branches with bilinear upsampling and
depthwise strided convs. Output: ``((B, C0, H/4, W/4),)``, or every branch with ``extra.stage4.multiscale_output``.

Keys equal MMPose's: HRNet's stem/``layer1``/``transition*``, ``stage{2,3,4}.m.branches.b.j.{norm1, attn.attn.
{relative_position_bias_table, relative_position_index, qkv, proj}, norm2, ffn.{fc1, norm1, dw3x3, norm2, fc2,
norm3}}`` and ``stage*.m.fuse_layers``.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import model_validator
from torch import Tensor, nn

from posekit.nn import (
    ActConfig,
    NormConfig,
    PretrainedInit,
    WindowMSA,
    as_config,
    build_activation_layer,
    build_norm_layer,
    drop_path,
)
from posekit_hrnet.hrnet import HRModule, HRNet, HRNetExtra, HRNetStage, HRNetUpsample

GELU = ActConfig(type="GELU")
LN6 = NormConfig(type="LN", eps=1e-6)
BN = NormConfig(type="BN")


class HRFormerStage(HRNetStage):
    """One stage of HRFormer's ``extra``: :class:`HRNetStage` plus the transformer settings per branch.

    Args:
        block: ``BOTTLENECK`` (stage 1) or ``HRFORMERBLOCK`` (stages 2-4).
        num_heads: attention heads per branch (stages 2-4).
        mlp_ratios: FFN hidden width over the branch width, per branch (stages 2-4).
        window_sizes: attention window side per branch (stages 2-4).
        num_mlp_ratios: accepted and unused, as in MMPose (its stage-1 configs carry it).
    """

    block: Literal["BOTTLENECK", "HRFORMERBLOCK"]  # type: ignore[assignment]
    num_heads: tuple[int, ...] = ()
    mlp_ratios: tuple[float, ...] = ()
    window_sizes: tuple[int, ...] = ()
    num_mlp_ratios: tuple[float, ...] = ()


class HRFormerExtra(HRNetExtra):
    """MMPose's HRFormer ``extra`` dict.

    Args:
        stage1: the Bottleneck stage (``layer1``).
        stage2: two transformer branches.
        stage3: three transformer branches.
        stage4: four transformer branches (``multiscale_output`` applies here).
        drop_path_rate: stochastic depth rising linearly from 0 over the blocks of stages 2-4. Default 0.
        with_rpe: relative position bias in the window attention. Default True.
        with_pad_mask: mask the padded tokens of windows that overhang the map. Default False.
        upsample: fuse-layer upsampling. Default bilinear, ``align_corners=False``.
    """

    stage1: HRFormerStage
    stage2: HRFormerStage
    stage3: HRFormerStage
    stage4: HRFormerStage
    drop_path_rate: float = 0.0
    with_rpe: bool = True
    with_pad_mask: bool = False
    upsample: HRNetUpsample = HRNetUpsample(mode="bilinear", align_corners=False)

    @model_validator(mode="after")
    def _transformer_stages(self) -> HRFormerExtra:
        if self.stage1.block != "BOTTLENECK":
            raise ValueError(f"stage1.block must be 'BOTTLENECK', got {self.stage1.block!r}")
        for k, stage in ((2, self.stage2), (3, self.stage3), (4, self.stage4)):
            if stage.block != "HRFORMERBLOCK":
                raise ValueError(f"stage{k}.block must be 'HRFORMERBLOCK', got {stage.block!r}")
            for name in ("num_heads", "mlp_ratios", "window_sizes"):
                if len(getattr(stage, name)) != stage.num_branches:
                    raise ValueError(
                        f"stage{k}.{name} {getattr(stage, name)} needs one entry per branch "
                        f"(num_branches={stage.num_branches})"
                    )
            for c, h in zip(stage.num_channels, stage.num_heads, strict=True):
                if c % h:
                    raise ValueError(f"stage{k}: num_channels {c} is not divisible by num_heads {h}")
        return self


class LocalWindowSelfAttention(nn.Module):
    """:class:`WindowMSA` (``attn``) over non-overlapping windows of a token map, centre-padded to whole windows.

    ``(B, H * W, C)`` tokens of an ``H x W`` map -> same shape.

    Args:
        embed_dims: channels C.
        num_heads: attention heads.
        window_size: window side.
        with_rpe: relative position bias. Default True.
        with_pad_mask: mask padded tokens out of the attention (when both H and W are padded, as MMPose). Default False.
    """

    def __init__(
        self, embed_dims: int, num_heads: int, window_size: int, with_rpe: bool = True, with_pad_mask: bool = False
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.with_pad_mask = with_pad_mask
        self.attn = WindowMSA(embed_dims, num_heads, window_size, with_rpe=with_rpe)

    def _windows(self, x: Tensor, pads: tuple[int, int, int, int], value: float = 0.0) -> Tensor:
        """``(B, H, W, C)`` -> padded ``(B * num_windows, window ** 2, C)`` (windows row-major per sample)."""
        s = self.window_size
        x = F.pad(x, (0, 0, *pads), value=value)
        b, h, w, c = x.shape
        x = x.view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(-1, s * s, c)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        """``(B, H * W, C)`` -> ``(B, H * W, C)``."""
        b, n, c = x.shape
        s = self.window_size
        pad_h, pad_w = math.ceil(h / s) * s - h, math.ceil(w / s) * s - w
        top, left = pad_h // 2, pad_w // 2
        pads = (left, pad_w - left, top, pad_h - top)
        mask = None
        if self.with_pad_mask and pad_h > 0 and pad_w > 0:
            # -inf on padded keys: (num_windows, N) -> (num_windows, N, N)
            keys = self._windows(x.new_zeros(1, h, w, 1), pads, value=-math.inf)[..., 0]
            mask = keys[:, None, :].expand(-1, s * s, -1)
        out = self.attn(self._windows(x.view(b, h, w, c), pads), mask)
        hp, wp = h + pad_h, w + pad_w
        out = out.view(b, hp // s, wp // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
        return out[:, top : top + h, left : left + w].reshape(b, n, c)


class CrossFFN(nn.Module):
    """HRFormer's FFN: 1x1 conv, depthwise 3x3 conv, 1x1 conv, each followed by a norm and an activation.

    ``(B, H * W, C_in)`` tokens of an ``H x W`` map -> ``(B, H * W, C_out)``.

    Args:
        in_features: channels C_in.
        hidden_features: channels of the depthwise conv.
        out_features: channels C_out.
        act_cfg: activation. Default GELU.
        norm_cfg: norm after each conv. Default BN.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int,
        act_cfg: ActConfig = GELU,
        norm_cfg: NormConfig = BN,
    ) -> None:
        super().__init__()
        # registered conv, norm, act (data order), so BatchNorms fold into the convs for inference
        self.fc1 = nn.Conv2d(in_features, hidden_features, 1)
        self.norm1 = build_norm_layer(norm_cfg, hidden_features)[1]
        self.act1 = build_activation_layer(act_cfg)
        self.dw3x3 = nn.Conv2d(hidden_features, hidden_features, 3, padding=1, groups=hidden_features)
        self.norm2 = build_norm_layer(norm_cfg, hidden_features)[1]
        self.act2 = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(hidden_features, out_features, 1)
        self.norm3 = build_norm_layer(norm_cfg, out_features)[1]
        self.act3 = build_activation_layer(act_cfg)

    def forward(self, x: Tensor, h: int, w: int) -> Tensor:
        """``(B, H * W, C_in)`` -> ``(B, H * W, C_out)``."""
        x = x.transpose(1, 2).reshape(x.shape[0], -1, h, w)
        x = self.act1(self.norm1(self.fc1(x)))
        x = self.act2(self.norm2(self.dw3x3(x)))
        x = self.act3(self.norm3(self.fc2(x)))
        return x.flatten(2).transpose(1, 2)


class HRFormerBlock(nn.Module):
    """Pre-norm transformer block on a feature map: window attention then :class:`CrossFFN`, each residual.

    ``(B, C, H, W)`` -> ``(B, C, H, W)``.

    Args:
        in_features: channels C.
        out_features: FFN output channels (equal to C: the residual needs it).
        num_heads: attention heads.
        window_size: attention window side. Default 7.
        mlp_ratio: FFN hidden width over C. Default 4.
        drop_path_rate: stochastic depth of both branches. Default 0.
        act_cfg: FFN activation. Default GELU.
        norm_cfg: FFN norms. Default BN.
        transformer_norm_cfg: the pre-norms ``norm1``/``norm2``. Default LN with eps 1e-6.
        with_rpe: relative position bias. Default True.
        with_pad_mask: mask padded window tokens. Default False.
    """

    expansion = 1

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_heads: int,
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
        act_cfg: ActConfig = GELU,
        norm_cfg: NormConfig = BN,
        transformer_norm_cfg: NormConfig = LN6,
        with_rpe: bool = True,
        with_pad_mask: bool = False,
    ) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(transformer_norm_cfg, in_features)[1]
        self.attn = LocalWindowSelfAttention(in_features, num_heads, window_size, with_rpe, with_pad_mask)
        self.norm2 = build_norm_layer(transformer_norm_cfg, out_features)[1]
        self.ffn = CrossFFN(in_features, int(in_features * mlp_ratio), out_features, act_cfg, norm_cfg)
        self.drop_path = drop_path(drop_path_rate)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        b, c, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        x = x + self.drop_path(self.ffn(self.norm2(x), h, w))
        return x.transpose(1, 2).reshape(b, c, h, w)


class HRFomerModule(HRModule):
    """:class:`HRModule` with HRFormer's fuse: a finer branch reaches a coarser one through depthwise strided
    3x3 convs each followed by a 1x1 conv (``dw, norm, pw, norm``, ReLU between steps). MMPose's spelling."""

    def _downsample(self, j: int, i: int, norm_cfg: NormConfig) -> nn.Sequential:
        ch = self.in_channels
        steps = []
        for k in range(i - j):
            out = ch[i] if k == i - j - 1 else ch[j]
            step = [
                nn.Conv2d(ch[j], ch[j], 3, stride=2, padding=1, groups=ch[j], bias=False),
                build_norm_layer(norm_cfg, ch[j])[1],
                nn.Conv2d(ch[j], out, 1, bias=False),
                build_norm_layer(norm_cfg, out)[1],
            ]
            if k < i - j - 1:
                step.append(nn.ReLU())
            steps.append(nn.Sequential(*step))
        return nn.Sequential(*steps)


class HRFormer(HRNet):
    """HRFormer backbone (`HRFormer: High-Resolution Transformer for Dense Prediction
    <https://arxiv.org/abs/2110.09408>`__).

    Args:
        extra: the four stage configs with the transformer settings (:class:`HRFormerExtra`), as in MMPose's configs.
        in_channels: input image channels. Default 3.
        norm_cfg: norms of the convs (stem, blocks, FFNs, fuse layers). Default ``dict(type='BN')``.
        transformer_norm_cfg: the blocks' pre-norms. Default ``dict(type='LN', eps=1e-6)``.
        norm_eval: keep BatchNorm layers in eval mode (frozen statistics) while training. Default False.
        with_cp: gradient checkpointing in stage 1's Bottlenecks. Default False.
        zero_init_residual: start each Bottleneck's last norm at 0. Default False.
        frozen_stages: freeze the stem (0) and stages 1..n with their transitions; -1 freezes nothing. Default -1.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)`` to load weights; default None
            (convs from N(0, 0.001^2), unit norms, bias tables from a truncated N(0, 0.02^2), as MMPose).
    """

    module_type = HRFomerModule
    #: a small working instance (``posekit plugins --check``): widths 8-64, one block per branch, 4x4 windows
    example_config = {
        "extra": {
            "drop_path_rate": 0.1,
            "stage1": {
                "num_modules": 1,
                "num_branches": 1,
                "block": "BOTTLENECK",
                "num_blocks": (1,),
                "num_channels": (8,),
            },
            **{
                f"stage{n}": {
                    "num_modules": 1,
                    "num_branches": n,
                    "block": "HRFORMERBLOCK",
                    "num_blocks": (1,) * n,
                    "num_channels": tuple(8 * 2**b for b in range(n)),
                    "num_heads": tuple(2**b for b in range(n)),
                    "mlp_ratios": (2,) * n,
                    "window_sizes": (4,) * n,
                }
                for n in (2, 3, 4)
            },
        }
    }

    def __init__(
        self,
        extra: HRFormerExtra,
        in_channels: int = 3,
        norm_cfg: NormConfig = BN,
        transformer_norm_cfg: NormConfig = LN6,
        norm_eval: bool = False,
        with_cp: bool = False,
        zero_init_residual: bool = False,
        frozen_stages: int = -1,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        # read by _make_branches while HRNet.__init__ builds the stages (a plain value, no submodule)
        self.transformer_norm_cfg = as_config(NormConfig, transformer_norm_cfg, "transformer_norm_cfg")
        super().__init__(
            as_config(HRFormerExtra, extra, "extra"),
            in_channels,
            norm_cfg,
            norm_eval,
            with_cp,
            zero_init_residual,
            frozen_stages,
            init_cfg,
        )

    @staticmethod
    def _expansion(block: str) -> int:
        return HRFormerBlock.expansion if block == "HRFORMERBLOCK" else HRNet._expansion(block)

    def _drop_path_rates(self, k: int) -> list[float]:
        """Stage ``k``'s share of ``drop_path_rate`` rising linearly over the first branch's blocks of stages 2-4."""
        stages = [self.extra.stage2, self.extra.stage3, self.extra.stage4]
        depths = [s.num_blocks[0] * s.num_modules for s in stages]
        rates = torch.linspace(0, self.extra.drop_path_rate, sum(depths), device="cpu").tolist()  # also on meta
        start = sum(depths[: k - 2])
        return rates[start : start + depths[k - 2]]

    def _make_branches(
        self, k: int, i: int, stage: HRNetStage, in_channels: list[int], with_cp: bool, norm_cfg: NormConfig
    ) -> list[nn.Module]:
        """The branches of module ``i`` of stage ``k``: :class:`HRFormerBlock` sequences at each branch's width;
        block j takes the module's j-th drop-path rate (MMPose's indexing)."""
        assert isinstance(stage, HRFormerStage) and isinstance(self.extra, HRFormerExtra)
        depth = stage.num_blocks[0]
        rates = self._drop_path_rates(k)[depth * i : depth * (i + 1)]
        make = functools.partial(
            HRFormerBlock,
            norm_cfg=norm_cfg,
            transformer_norm_cfg=self.transformer_norm_cfg,
            with_rpe=self.extra.with_rpe,
            with_pad_mask=self.extra.with_pad_mask,
        )
        return [
            nn.Sequential(
                *(
                    make(c, c, stage.num_heads[b], stage.window_sizes[b], stage.mlp_ratios[b], rates[j])
                    for j in range(stage.num_blocks[b])
                )
            )
            for b, c in enumerate(in_channels)
        ]

    def init_weights(self) -> None:
        """Bias tables from a truncated N(0, 0.02^2), then HRNet's init (convs N(0, 0.001^2), unit norms, or
        ``init_cfg``'s weights)."""
        for m in self.modules():
            if isinstance(m, WindowMSA) and m.with_rpe:
                nn.init.trunc_normal_(m.relative_position_bias_table, std=0.02)
        super().init_weights()
