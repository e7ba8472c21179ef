"""Transformer bricks with mmcv's / mmpretrain's module names, so MMPose state_dict keys carry over.

Dimensions: B samples, N tokens, C embedding channels; images ``(B, C_in, H, W)``.

- :class:`PatchEmbed` (mmcv): ``projection`` conv (+ optional ``norm``), ``(B, C_in, H, W)`` -> ``(B, N, C)``;
- :class:`FFN` (mmcv): ``layers.0.0`` Linear, activation, ``layers.1`` Linear, optional ``gamma2``;
- :class:`MultiheadAttention` (mmpretrain): ``qkv``, ``proj``, optional ``gamma1``;
- :class:`PatchMerging` (mmcv): ``norm`` and ``reduction`` over each window's gathered channels;
- :class:`LayerScale` (``weight``), :func:`resize_pos_embed`, :func:`to_2tuple`,
  :func:`load_original_weights` (``init_cfg`` weights in an original repository's layout).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.nn import (
    ActConfig,
    FFNConfig,
    NormConfig,
    PretrainedInit,
    as_config,
    build_norm_layer,
    drop_path,
    extract_state_dict,
    load_pretrained,
    load_state_dict,
    read_checkpoint,
)
from posekit.nn.transformer import FFN as BaseFFN

GELU = ActConfig(type="GELU")


def to_2tuple(value: int | tuple[int, ...]) -> tuple[int, int]:
    """``7`` -> ``(7, 7)``; a pair stays a pair."""
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


class LayerScale(nn.Module):
    """Per-channel scale of the last dim (channels-last ``(..., C)``); key ``weight``.

    Args:
        dim: channels C.
        init_value: the scale's initial value. Default 1e-5.
    """

    def __init__(self, dim: int, init_value: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim) * init_value)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., C)`` -> same shape."""
        return x * self.weight


class FFN(BaseFFN):
    """:class:`posekit.nn.FFN` (two linear layers, same keys) with stochastic depth, an optional ``gamma2`` and
    the identity passed in: ``(B, N, C)`` -> ``(B, N, C)``.

    Args:
        embed_dims: channels C.
        feedforward_channels: hidden channels.
        act_cfg: activation. Default GELU.
        ffn_drop: dropout after the activation and after the second linear layer. Default 0.
        drop_path_rate: stochastic depth of the branch. Default 0.
        layer_scale_init_value: a :class:`LayerScale` (``gamma2``) on the branch when > 0. Default 0.
    """

    def __init__(
        self,
        embed_dims: int,
        feedforward_channels: int,
        act_cfg: ActConfig = GELU,
        ffn_drop: float = 0.0,
        drop_path_rate: float = 0.0,
        layer_scale_init_value: float = 0.0,
    ) -> None:
        cfg = FFNConfig(
            embed_dims=embed_dims, feedforward_channels=feedforward_channels, act_cfg=act_cfg, ffn_drop=ffn_drop
        )
        super().__init__(cfg)
        self.dropout_layer = drop_path(drop_path_rate)
        self.gamma2 = LayerScale(embed_dims, layer_scale_init_value) if layer_scale_init_value > 0 else nn.Identity()

    def forward(self, x: Tensor, identity: Tensor | None = None) -> Tensor:
        """``identity + branch(x)``; ``identity`` defaults to ``x``."""
        return (x if identity is None else identity) + self.dropout_layer(self.gamma2(self.layers(x)))


class MultiheadAttention(nn.Module):
    """Self-attention over tokens with one ``qkv`` projection: ``(B, N, C)`` -> ``(B, N, C)`` (no residual).

    Args:
        embed_dims: channels C (split over the heads).
        num_heads: attention heads.
        attn_drop: dropout on the attention weights (training only). Default 0.
        proj_drop: dropout after the output projection. Default 0.
        drop_path_rate: stochastic depth of the output. Default 0.
        qkv_bias: bias in the ``qkv`` projection. Default True.
        layer_scale_init_value: a :class:`LayerScale` (``gamma1``) on the output when > 0. Default 0.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        drop_path_rate: float = 0.0,
        qkv_bias: bool = True,
        layer_scale_init_value: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.out_drop = drop_path(drop_path_rate)
        self.gamma1 = LayerScale(embed_dims, layer_scale_init_value) if layer_scale_init_value > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, C)`` -> ``(B, N, C)``."""
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        x = self.proj(x.transpose(1, 2).reshape(b, n, c))
        return self.out_drop(self.gamma1(self.proj_drop(x)))


def adaptive_pad(
    x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], mode: Literal["corner", "same"]
) -> Tensor:
    """Zero-pad ``(B, C, H, W)`` so a ``kernel``/``stride`` window covers every pixel (mmcv's ``AdaptivePadding``):
    ``corner`` pads bottom/right, ``same`` both sides."""
    pads = []
    for size, k, s in zip(x.shape[-2:], kernel, stride, strict=True):
        pads.append(max((math.ceil(size / s) - 1) * s + k - size, 0))
    pad_h, pad_w = pads
    if pad_h == 0 and pad_w == 0:
        return x
    if mode == "corner":
        return F.pad(x, [0, pad_w, 0, pad_h])
    return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class PatchEmbed(nn.Module):
    """Image to patch tokens by one strided conv: ``(B, C_in, H, W)`` -> ``(B, h * w, C)`` and ``(h, w)``.

    Args:
        in_channels: input channels C_in. Default 3.
        embed_dims: token channels C. Default 768.
        kernel_size: conv kernel. Default 16.
        stride: conv stride; None: the kernel size. Default 16.
        padding: zero padding, or ``corner``/``same`` to pad each input up to whole windows. Default ``corner``.
        bias: conv bias. Default True.
        norm_cfg: a norm over the tokens (``norm``); default None.
    """

    def __init__(
        self,
        in_channels: int = 3,
        embed_dims: int = 768,
        kernel_size: int | tuple[int, int] = 16,
        stride: int | tuple[int, int] | None = 16,
        padding: int | tuple[int, int] | Literal["corner", "same"] = "corner",
        bias: bool = True,
        norm_cfg: NormConfig | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = to_2tuple(kernel_size)
        self.stride = to_2tuple(stride if stride is not None else kernel_size)
        self.adaptive: Literal["corner", "same"] | None = padding if isinstance(padding, str) else None
        self.padding = (0, 0) if isinstance(padding, str) else to_2tuple(padding)
        self.projection = nn.Conv2d(
            in_channels, embed_dims, self.kernel_size, self.stride, padding=self.padding, bias=bias
        )
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None

    def out_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The token grid ``(h, w)`` of an input of ``size`` ``(H, W)``."""
        out = []
        for n, k, s, p in zip(size, self.kernel_size, self.stride, self.padding, strict=True):
            if self.adaptive is not None:
                n = max(math.ceil(n / s) - 1, 0) * s + k
            out.append((n + 2 * p - k) // s + 1)
        return (out[0], out[1])

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """``(B, C_in, H, W)`` -> tokens ``(B, h * w, C)`` and ``(h, w)``."""
        if self.adaptive is not None:
            x = adaptive_pad(x, self.kernel_size, self.stride, self.adaptive)
        x = self.projection(x)
        size = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        return (self.norm(x) if self.norm is not None else x), size


def resize_pos_embed(
    pos_embed: Tensor, src: tuple[int, int], dst: tuple[int, int], mode: str = "bicubic", num_extra_tokens: int = 1
) -> Tensor:
    """Interpolate position embeddings ``(1, extra + h * w, C)`` from grid ``src`` to ``dst`` (``(h, w)``).

    The ``num_extra_tokens`` leading tokens (the class token) are kept as they are.
    """
    if tuple(src) == tuple(dst):
        return pos_embed
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    c = pos_embed.shape[-1]
    grid = grid.reshape(1, src[0], src[1], c).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=dst, align_corners=False, mode=mode)
    grid = grid.flatten(2).transpose(1, 2).to(pos_embed.dtype)
    return torch.cat((extra, grid), dim=1)


class PatchMerging(nn.Module):
    """Merge each ``stride x stride`` patch of tokens into one (mmcv's): ``(B, H * W, C)`` -> ``(B, h * w, C_out)``.

    Keys: ``norm`` (over the ``stride ** 2 * C`` gathered channels) and ``reduction`` (Linear, no bias).

    Args:
        in_channels: channels C.
        out_channels: channels C_out.
        stride: merge window (and kernel) side. Default 2.
        norm_cfg: the norm before the reduction; None: none. Default LN.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int = 2, norm_cfg: NormConfig | None = NormConfig(type="LN")
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = (stride, stride)
        self.sampler = nn.Unfold(kernel_size=stride, stride=stride)
        dim = stride * stride * in_channels
        self.norm = build_norm_layer(norm_cfg, dim)[1] if norm_cfg is not None else None
        self.reduction = nn.Linear(dim, out_channels, bias=False)

    def forward(self, x: Tensor, size: tuple[int, int]) -> tuple[Tensor, tuple[int, int]]:
        """Tokens ``(B, H * W, C)`` of grid ``size`` -> ``(B, h * w, C_out)`` and ``(h, w)`` (corner-padded)."""
        b, _, c = x.shape
        x = adaptive_pad(x.view(b, size[0], size[1], c).permute(0, 3, 1, 2), self.stride, self.stride, "corner")
        out = (x.shape[2] // self.stride[0], x.shape[3] // self.stride[1])
        x = self.sampler(x).transpose(1, 2)
        x = self.norm(x) if self.norm is not None else x
        return self.reduction(x), out


def load_original_weights(
    module: nn.Module, init_cfg: PretrainedInit, convert: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None
) -> None:
    """Load ``init_cfg``'s checkpoint non-strictly, through ``convert`` (an original repository's keys to
    MMPose's, MMPose's ``convert_weights=True``) when given."""
    init_cfg = as_config(PretrainedInit, init_cfg, "init_cfg")
    if convert is None:
        load_pretrained(module, init_cfg)
        return
    source = f"init_cfg checkpoint {init_cfg.checkpoint}"
    state = extract_state_dict(read_checkpoint(init_cfg.checkpoint), init_cfg.prefix, source)
    load_state_dict(module, convert(state), strict=False, source=source)
