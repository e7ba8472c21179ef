"""PyramidVisionTransformer (`PVT <https://arxiv.org/abs/2102.12122>`__) and PyramidVisionTransformerV2
(`PVTv2 <https://arxiv.org/abs/2106.13797>`__), MMPose's own (``mmpose/models/backbones/pvt.py``).

Dimensions: stage i embeds its input with a strided conv into ``embed_dims * num_heads[i]`` channels
(``C_i``), runs ``num_layers[i]`` encoder layers whose keys and values are spatially reduced by
``sr_ratios[i]``, and returns ``(B, C_i, H / s_i, W / s_i)`` (``s_i``: the product of the strides so far).

Keys: ``layers.i.0`` (patch embedding: ``projection``, ``norm``), ``layers.i.1.j`` (``j = 0`` the absolute
position embedding ``pos_embed`` when used, then the encoder layers: ``norm1``, ``attn.attn.in_proj_*``,
``attn.attn.out_proj``, ``attn.sr``, ``attn.norm``, ``norm2``, ``ffn.layers.<k>`` 1x1 / 3x3 convs),
``layers.i.2`` (the stage's norm, V2 only).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    ActConfig,
    NormConfig,
    PretrainedInit,
    build_activation_layer,
    build_norm_layer,
    drop_path,
    init_linears_and_norms,
    kaiming_init,
)
from posekit.protocols import BaseBackbone
from posekit_vit._layers import (
    GELU,
    PatchEmbed,
    load_original_weights,
    to_2tuple,
)

LN6 = NormConfig(type="LN", eps=1e-6)


def nlc_to_nchw(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Tokens ``(B, H * W, C)`` -> map ``(B, C, H, W)``."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *size)


def nchw_to_nlc(x: Tensor) -> Tensor:
    """Map ``(B, C, H, W)`` -> tokens ``(B, H * W, C)``."""
    return x.flatten(2).transpose(1, 2)


class MixFFN(nn.Module):
    """1x1 conv, (3x3 depth-wise conv,) activation, 1x1 conv over the token map, plus the identity.

    Args:
        embed_dims: channels C.
        feedforward_channels: hidden channels.
        act_cfg: activation. Default GELU.
        ffn_drop: dropout after the activation and the last conv. Default 0.
        drop_path_rate: stochastic depth of the branch. Default 0.
        use_conv: the depth-wise 3x3 conv (PVTv2). Default False.
    """

    def __init__(
        self,
        embed_dims: int,
        feedforward_channels: int,
        act_cfg: ActConfig = GELU,
        ffn_drop: float = 0.0,
        drop_path_rate: float = 0.0,
        use_conv: bool = False,
    ) -> None:
        super().__init__()
        drop = nn.Dropout(ffn_drop)
        layers: list[nn.Module] = [
            nn.Conv2d(embed_dims, feedforward_channels, 1),
            build_activation_layer(act_cfg),
            drop,
            nn.Conv2d(feedforward_channels, embed_dims, 1),
            drop,
        ]
        if use_conv:
            dw = nn.Conv2d(feedforward_channels, feedforward_channels, 3, padding=1, groups=feedforward_channels)
            layers.insert(1, dw)
        self.layers = nn.Sequential(*layers)
        self.dropout_layer = drop_path(drop_path_rate)

    def forward(self, x: Tensor, size: tuple[int, int], identity: Tensor) -> Tensor:
        """Tokens ``(B, H * W, C)`` of grid ``size`` -> ``identity + branch``."""
        return identity + self.dropout_layer(nchw_to_nlc(self.layers(nlc_to_nchw(x, size))))


class SpatialReductionAttention(nn.Module):
    """Multi-head attention whose keys and values come from the token map reduced by a strided conv (``sr``).

    Args:
        embed_dims: channels C.
        num_heads: attention heads.
        attn_drop: dropout on the attention weights. Default 0.
        proj_drop: dropout after the output projection. Default 0.
        drop_path_rate: stochastic depth of the output. Default 0.
        qkv_bias: bias of the input projections. Default True.
        norm_cfg: the norm after the reduction. Default LN.
        sr_ratio: reduction (kernel and stride of ``sr``); 1: none. Default 1.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        drop_path_rate: float = 0.0,
        qkv_bias: bool = True,
        norm_cfg: NormConfig = NormConfig(type="LN"),
        sr_ratio: int = 1,
    ) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, attn_drop, bias=qkv_bias, batch_first=True)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = drop_path(drop_path_rate)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(embed_dims, embed_dims, sr_ratio, stride=sr_ratio)
            self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: Tensor, size: tuple[int, int], identity: Tensor) -> Tensor:
        """Tokens ``(B, H * W, C)`` of grid ``size`` -> ``identity + attention``."""
        kv = self.norm(nchw_to_nlc(self.sr(nlc_to_nchw(x, size)))) if self.sr_ratio > 1 else x
        out = self.attn(query=x, key=kv, value=kv, need_weights=False)[0]
        return identity + self.dropout_layer(self.proj_drop(out))


class PVTEncoderLayer(nn.Module):
    """``x + attn(norm1(x))`` then ``x + ffn(norm2(x))``; tokens ``(B, H * W, C)`` -> same shape.

    Args:
        embed_dims: channels C.
        num_heads: attention heads.
        feedforward_channels: hidden channels of the FFN.
        drop_rate: dropout after the projections. Default 0.
        attn_drop_rate: dropout on the attention weights. Default 0.
        drop_path_rate: stochastic depth of both branches. Default 0.
        qkv_bias: bias of the input projections. Default True.
        act_cfg: FFN activation. Default GELU.
        norm_cfg: norms. Default LN.
        sr_ratio: spatial reduction of the keys and values. Default 1.
        use_conv_ffn: the FFN's depth-wise 3x3 conv. Default False.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        feedforward_channels: int,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        qkv_bias: bool = True,
        act_cfg: ActConfig = GELU,
        norm_cfg: NormConfig = NormConfig(type="LN"),
        sr_ratio: int = 1,
        use_conv_ffn: bool = False,
    ) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = SpatialReductionAttention(
            embed_dims, num_heads, attn_drop_rate, drop_rate, drop_path_rate, qkv_bias, norm_cfg, sr_ratio
        )
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.ffn = MixFFN(embed_dims, feedforward_channels, act_cfg, drop_rate, drop_path_rate, use_conv_ffn)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Tokens ``(B, H * W, C)`` of grid ``size`` -> same shape."""
        x = self.attn(self.norm1(x), size, identity=x)
        return self.ffn(self.norm2(x), size, identity=x)


class AbsolutePositionEmbedding(nn.Module):
    """A learnt ``(1, h * w, C)`` position embedding (``pos_embed``), resized bilinearly to each input's grid.

    Args:
        pos_shape: the pretraining grid ``(h, w)``.
        pos_dim: channels C.
        drop_rate: dropout after adding it. Default 0.
    """

    def __init__(self, pos_shape: tuple[int, int], pos_dim: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.pos_shape = pos_shape
        self.pos_embed = nn.Parameter(torch.zeros(1, pos_shape[0] * pos_shape[1], pos_dim))
        self.drop = nn.Dropout(p=drop_rate)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        """Tokens ``(B, H * W, C)`` of grid ``size`` plus the embedding resized to it."""
        grid = nlc_to_nchw(self.pos_embed, self.pos_shape)
        return self.drop(x + nchw_to_nlc(F.interpolate(grid, size=size, mode="bilinear")))


def pvt_convert(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Keys of the original PVT repository's checkpoints as MMPose's (``convert_weights=True``).

    ``patch_embed<i>`` -> ``layers.<i-1>.0``, ``pos_embed<i>`` -> ``layers.<i-1>.1.0.pos_embed`` (the class
    token's position dropped), ``block<i>.<j>`` -> ``layers.<i-1>.1.<j(+1)>`` with ``q`` and ``kv`` joined
    into ``attn.in_proj_*`` and the MLP's linears as 1x1 convs, ``norm<i>`` -> ``layers.<i-1>.2``.
    """
    abs_pos = any(k.startswith("pos_embed") for k in state)
    conv_ffn = any("dwconv" in k for k in state)
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith(("head", "norm.", "cls_token")) or "attn.kv." in key:
            continue
        if key.startswith("pos_embed"):
            stage = int(key.removeprefix("pos_embed"))
            key = f"layers.{stage - 1}.1.0.pos_embed"
            value = value[:, 1:] if stage == 4 and value.shape[1] == 50 else value  # 1 class token + 7 * 7
        elif key.startswith("patch_embed"):
            head, _, rest = key.partition(".")
            key = f"layers.{int(head.removeprefix('patch_embed')) - 1}.0.{rest.replace('proj.', 'projection.')}"
        elif key.startswith("block"):
            head, layer, rest = key.split(".", 2)
            key = f"layers.{int(head.removeprefix('block')) - 1}.1.{int(layer) + abs_pos}.{rest}"
            if "attn.q." in key:
                value = torch.cat([value, state[f"{head}.{layer}.{rest.replace('q.', 'kv.')}"]], dim=0)
                key = key.replace("q.", "attn.in_proj_")
            elif "attn.proj." in key:
                key = key.replace("proj.", "attn.out_proj.")
            elif "mlp." in key:
                if "fc1.weight" in key or "fc2.weight" in key:
                    value = value.reshape(*value.shape, 1, 1)
                key = key.replace("mlp.", "ffn.layers.").replace("fc1.", "0.").replace("dwconv.dwconv.", "1.")
                key = key.replace("fc2.", "4." if conv_ffn else "3.")
        elif key.startswith("norm"):
            key = f"layers.{int(key[4]) - 1}.2{key[5:]}"
        out[key] = value
    return out


class PyramidVisionTransformer(BaseBackbone):
    """PVT: stages of patch embedding, spatial-reduction encoder layers and (V2) a norm.

    Args:
        pretrain_img_size: the pretraining input ``(H, W)``; sizes the position embeddings. Default 224.
        in_channels: input channels. Default 3.
        embed_dims: channels per head (stage i has ``embed_dims * num_heads[i]``). Default 64.
        num_stages: stages. Default 4.
        num_layers: encoder layers per stage. Default (3, 4, 6, 3).
        num_heads: attention heads per stage. Default (1, 2, 5, 8).
        patch_sizes: patch-embedding kernel per stage. Default (4, 2, 2, 2).
        strides: patch-embedding stride per stage. Default (4, 2, 2, 2).
        paddings: patch-embedding padding per stage. Default (0, 0, 0, 0).
        sr_ratios: key/value reduction per stage. Default (8, 4, 2, 1).
        out_indices: stages whose output is returned. Default (0, 1, 2, 3).
        mlp_ratios: FFN hidden channels per channel, per stage. Default (8, 8, 4, 4).
        qkv_bias: bias of the input projections. Default True.
        drop_rate: dropout. Default 0.
        attn_drop_rate: dropout on the attention weights. Default 0.
        drop_path_rate: stochastic depth, rising linearly from 0 over all layers. Default 0.1.
        use_abs_pos_embed: a learnt position embedding per stage. Default True.
        norm_after_stage: a norm at the end of each stage. Default False.
        use_conv_ffn: the FFNs' depth-wise 3x3 conv. Default False.
        act_cfg: FFN activation. Default GELU.
        norm_cfg: norms. Default ``dict(type='LN', eps=1e-6)``.
        convert_weights: ``init_cfg``'s checkpoint has the original PVT repository's keys. Default True.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)``; default None (truncated-normal linears,
            Kaiming convs).
    """

    example_config = {"embed_dims": 8, "num_stages": 2, "num_layers": (1, 1), "num_heads": (1, 2),
                      "patch_sizes": (4, 2), "strides": (4, 2), "paddings": (0, 0), "sr_ratios": (2, 1),
                      "out_indices": (1,), "mlp_ratios": (2, 2), "pretrain_img_size": 32}  # fmt: skip

    def __init__(
        self,
        pretrain_img_size: int | tuple[int, int] = 224,
        in_channels: int = 3,
        embed_dims: int = 64,
        num_stages: int = 4,
        num_layers: tuple[int, ...] = (3, 4, 6, 3),
        num_heads: tuple[int, ...] = (1, 2, 5, 8),
        patch_sizes: tuple[int, ...] = (4, 2, 2, 2),
        strides: tuple[int, ...] = (4, 2, 2, 2),
        paddings: tuple[int, ...] = (0, 0, 0, 0),
        sr_ratios: tuple[int, ...] = (8, 4, 2, 1),
        out_indices: tuple[int, ...] = (0, 1, 2, 3),
        mlp_ratios: tuple[int, ...] = (8, 8, 4, 4),
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        use_abs_pos_embed: bool = True,
        norm_after_stage: bool = False,
        use_conv_ffn: bool = False,
        act_cfg: ActConfig = GELU,
        norm_cfg: NormConfig = LN6,
        convert_weights: bool = True,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        per_stage = {
            "num_layers": num_layers,
            "num_heads": num_heads,
            "patch_sizes": patch_sizes,
            "strides": strides,
            "paddings": paddings,
            "sr_ratios": sr_ratios,
            "mlp_ratios": mlp_ratios,
        }
        wrong = {k: v for k, v in per_stage.items() if len(v) != num_stages}
        if wrong:
            raise ConfigError(f"{type(self).__name__}: {wrong} need one entry per stage (num_stages={num_stages})")
        if not all(0 <= i < num_stages for i in out_indices):
            raise ConfigError(
                f"{type(self).__name__}: out_indices {out_indices} must be stage indices in [0, {num_stages})"
            )
        self.out_indices = out_indices
        self.convert_weights = convert_weights
        self.init_cfg = init_cfg
        image = to_2tuple(pretrain_img_size)
        rates = torch.linspace(0, drop_path_rate, sum(num_layers), device="cpu").tolist()
        self.layers = nn.ModuleList()
        channels, first = in_channels, 0
        for i, depth in enumerate(num_layers):
            dims = embed_dims * num_heads[i]
            embed = PatchEmbed(channels, dims, patch_sizes[i], strides[i], paddings[i], True, norm_cfg)
            blocks: list[nn.Module] = []
            if use_abs_pos_embed:
                reduce = int(np.prod(patch_sizes[: i + 1]))
                blocks.append(AbsolutePositionEmbedding((image[0] // reduce, image[1] // reduce), dims, drop_rate))
            blocks += [
                PVTEncoderLayer(
                    dims,
                    num_heads[i],
                    mlp_ratios[i] * dims,
                    drop_rate,
                    attn_drop_rate,
                    rates[first + j],
                    qkv_bias,
                    act_cfg,
                    norm_cfg,
                    sr_ratios[i],
                    use_conv_ffn,
                )
                for j in range(depth)
            ]
            norm = build_norm_layer(norm_cfg, dims)[1] if norm_after_stage else nn.Identity()
            self.layers.append(nn.ModuleList([embed, nn.ModuleList(blocks), norm]))
            channels, first = dims, first + depth
        self.init_weights()

    def init_weights(self) -> None:
        """Truncated-normal linears (std 0.02), unit LayerNorms, Kaiming convs, truncated-normal position
        embeddings; then ``init_cfg``'s weights (through :func:`pvt_convert` with ``convert_weights``)."""
        init_linears_and_norms(self)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, AbsolutePositionEmbedding):
                nn.init.trunc_normal_(m.pos_embed, std=0.02)
        if self.init_cfg is not None:
            load_original_weights(self, self.init_cfg, pvt_convert if self.convert_weights else None)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> one ``(B, C_i, h_i, w_i)`` map per ``out_indices`` entry."""
        outs = []
        for i, (embed, blocks, norm) in enumerate(self.layers):
            x, size = embed(x)
            for block in blocks:
                x = block(x, size)
            x = nlc_to_nchw(norm(x), size)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


class PyramidVisionTransformerV2(PyramidVisionTransformer):
    """PVTv2: overlapping patch embeddings (kernels 7, 3, 3, 3), no position embedding, convolutional FFNs
    and a norm after each stage; the other arguments as :class:`PyramidVisionTransformer` (MMPose fixes
    these four, so they are not arguments here either).
    """

    example_config = {"embed_dims": 8, "num_stages": 4, "num_layers": (1, 1, 1, 1), "num_heads": (1, 1, 2, 2),
                      "sr_ratios": (2, 1, 1, 1), "out_indices": (3,), "mlp_ratios": (2, 2, 2, 2)}  # fmt: skip

    #: what PVTv2 sets itself (the registry refuses them in a config)
    fixed_arguments: ClassVar[dict[str, Any]] = {"patch_sizes": (7, 3, 3, 3), "paddings": (3, 1, 1, 1),
        "use_abs_pos_embed": False, "norm_after_stage": True, "use_conv_ffn": True}  # fmt: skip

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**self.fixed_arguments, **kwargs)
