"""Deformable-DETR bricks of ED-Pose in plain torch, with mmcv / MMPose's module names (checkpoint keys carry over).

- :func:`deformable_sample`: multi-scale deformable attention's sampling (``grid_sample``, no compiled op);
- :class:`MultiScaleDeformableAttention`: mmcv's module (``sampling_offsets``, ``attention_weights``,
  ``value_proj``, ``output_proj``), the input added back;
- mmcv's wrappers :class:`~posekit.nn.MultiheadAttention`, :class:`~posekit.nn.FFN` come from ``posekit.nn``;
- :class:`MLP`: MMPose's DETR ``FFN`` (``layers.<i>``, ReLU between);
- :class:`PositionEmbeddingSineHW`, :func:`sine_embed`: sine encodings of feature positions and of boxes;
- :class:`DeformableEncoder`, :class:`DeformableDecoderLayer`: post-norm encoder stack and decoder layer.

Dimensions: B batch, Q queries, S feature tokens (all levels), L levels, C channels, M heads, P points.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.nn import FFN, AttnConfig, FFNConfig, MultiheadAttention, NormConfig, build_norm_layer


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeformAttnConfig(_Frozen):
    """mmcv's ``MultiScaleDeformableAttention`` arguments.

    Args:
        embed_dims: C. Default 256.
        num_heads: M. Default 8.
        num_levels: L. Default 4.
        num_points: P sampling points per head and level. Default 4.
        im2col_step: the compiled op's batching (unused here). Default 64.
        dropout: dropout on the output. Default 0.1.
        batch_first: must be True (ED-Pose's layers). Default True.
        value_proj_ratio: value channels over C. Default 1.0.
    """

    embed_dims: int = 256
    num_heads: int = 8
    num_levels: int = 4
    num_points: int = 4
    im2col_step: int = 64
    dropout: float = 0.1
    batch_first: bool = True
    value_proj_ratio: float = 1.0


class EncoderLayerConfig(_Frozen):
    """One encoder layer: deformable self-attention, FFN, each followed by a norm (default LN)."""

    self_attn_cfg: DeformAttnConfig = DeformAttnConfig()
    ffn_cfg: FFNConfig = FFNConfig()
    norm_cfg: NormConfig = NormConfig(type="LN")


class DecoderLayerConfig(_Frozen):
    """One decoder layer: self-attention, deformable cross-attention, FFN, each followed by a norm."""

    self_attn_cfg: AttnConfig = AttnConfig()
    cross_attn_cfg: DeformAttnConfig = DeformAttnConfig()
    ffn_cfg: FFNConfig = FFNConfig()
    norm_cfg: NormConfig = NormConfig(type="LN")


def _check_batch_first(cfg: DeformAttnConfig, where: str) -> None:
    if not cfg.batch_first:
        raise ValueError(f"{where}.batch_first must be True (ED-Pose's layers are batch first)")


def inverse_sigmoid(x: Tensor, eps: float = 1e-3) -> Tensor:
    """``log(x / (1 - x))`` of ``x`` clamped to [0, 1], both terms at least ``eps`` (MMPose's)."""
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def deformable_sample(value: Tensor, shapes: list[tuple[int, int]], locations: Tensor, weights: Tensor) -> Tensor:
    """Multi-scale deformable attention by definition: bilinear samples of each level, weighted and summed.

    Args:
        value: ``(B, S, M, C/M)`` values of all levels, flattened level after level.
        shapes: ``(h, w)`` of each level.
        locations: ``(B, Q, M, L, P, 2)`` sampling points ``(x, y)`` in [0, 1] of each level (outside: zeros).
        weights: ``(B, Q, M, L, P)`` attention weights.

    Returns:
        ``(B, Q, C)``.
    """
    b, _, m, d = value.shape
    q, lv, p = locations.shape[1], locations.shape[3], locations.shape[4]
    grids = locations * 2 - 1
    sampled = []
    for level, value_l in enumerate(value.split([h * w for h, w in shapes], dim=1)):
        h, w = shapes[level]
        value_l = value_l.permute(0, 2, 3, 1).reshape(b * m, d, h, w)
        grid_l = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)  # (B*M, Q, P, 2)
        sampled.append(F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros", align_corners=False))
    stacked = torch.stack(sampled, dim=-2).flatten(-2)  # (B*M, C/M, Q, L*P)
    w = weights.transpose(1, 2).reshape(b * m, 1, q, lv * p)
    return (stacked * w).sum(-1).view(b, m * d, q).transpose(1, 2)


class MultiScaleDeformableAttention(nn.Module):
    """Queries attend to ``P`` learnt points per head around their reference on every level. ``(B, Q, C)`` out."""

    def __init__(self, cfg: DeformAttnConfig) -> None:
        super().__init__()
        if cfg.embed_dims % cfg.num_heads:
            raise ValueError(f"embed_dims {cfg.embed_dims} must be divisible by num_heads {cfg.num_heads}")
        self.num_heads, self.num_levels, self.num_points = cfg.num_heads, cfg.num_levels, cfg.num_points
        points = cfg.num_heads * cfg.num_levels * cfg.num_points
        value_dims = int(cfg.embed_dims * cfg.value_proj_ratio)
        self.sampling_offsets = nn.Linear(cfg.embed_dims, points * 2)
        self.attention_weights = nn.Linear(cfg.embed_dims, points)
        self.value_proj = nn.Linear(cfg.embed_dims, value_dims)
        self.output_proj = nn.Linear(value_dims, cfg.embed_dims)
        self.dropout = nn.Dropout(cfg.dropout)
        self._init_offsets()

    def _init_offsets(self) -> None:
        """mmcv's start: each head's points spread along its own direction, uniform attention."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.num_heads, dtype=torch.float32) * (2 * math.pi / self.num_heads)
        grid = torch.stack([angles.cos(), angles.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.num_heads, 1, 1, 2).repeat(1, self.num_levels, self.num_points, 1)
        grid *= torch.arange(1, self.num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        self.sampling_offsets.bias.data = grid.flatten()
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for layer in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self,
        query: Tensor,
        query_pos: Tensor | None,
        value: Tensor | None,
        key_padding_mask: Tensor | None,
        reference_points: Tensor,
        shapes: list[tuple[int, int]],
    ) -> Tensor:
        """``query (B, Q, C)`` (+ ``query_pos``) attends to ``value (B, S, C)`` (default: the query) around
        ``reference_points (B, Q, L, 2)`` (x, y) or ``(B, Q, L, 4)`` (cx, cy, w, h), normalized; padded tokens
        (``key_padding_mask (B, S)`` True) give zeros."""
        identity = query
        value = query if value is None else value
        if query_pos is not None:
            query = query + query_pos
        b, q, _ = query.shape
        m, lv, p = self.num_heads, self.num_levels, self.num_points
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(b, value.shape[1], m, -1)
        offsets = self.sampling_offsets(query).view(b, q, m, lv, p, 2)
        weights = self.attention_weights(query).view(b, q, m, lv * p).softmax(-1).view(b, q, m, lv, p)
        ref = reference_points[:, :, None, :, None]
        if reference_points.shape[-1] == 2:
            wh = torch.tensor([[w, h] for h, w in shapes], dtype=query.dtype, device=query.device)
            locations = ref + offsets / wh[None, None, None, :, None, :]
        elif reference_points.shape[-1] == 4:
            locations = ref[..., :2] + offsets / p * ref[..., 2:] * 0.5
        else:
            raise ValueError(f"reference_points must end in 2 or 4 values, got {tuple(reference_points.shape)}")
        out = self.output_proj(deformable_sample(value, shapes, locations, weights))
        return self.dropout(out) + identity


class MLP(nn.Module):
    """MMPose's DETR ``FFN``: ``num_layers`` linear layers with ReLU between (keys ``layers.<i>``)."""

    def __init__(self, in_dims: int, hidden_dims: int, out_dims: int, num_layers: int) -> None:
        super().__init__()
        dims = [in_dims] + [hidden_dims] * (num_layers - 1) + [out_dims]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


def _sin_cos(pos: Tensor, dim_t: Tensor) -> Tensor:
    """``pos (...)`` over frequencies ``dim_t (F,)``: sines of even, cosines of odd slots, ``(..., F)``."""
    x = pos[..., None] / dim_t
    return torch.stack((x[..., 0::2].sin(), x[..., 1::2].cos()), dim=-1).flatten(-2)


def _frequencies(num: int, temperature: float, device: torch.device) -> Tensor:
    i = torch.arange(num, dtype=torch.float32, device=device)
    return temperature ** (2 * torch.div(i, 2, rounding_mode="floor") / num)


def sine_embed(boxes: Tensor, num_feats: int = 128, temperature: float = 10000.0) -> Tensor:
    """Sine encodings of normalized ``boxes (..., 4)`` (cx, cy, w, h) or points ``(..., 2)``, ordered
    (y, x, w, h): ``(..., 4 * num_feats)`` or ``(..., 2 * num_feats)``."""
    dim_t = _frequencies(num_feats, temperature, boxes.device)
    parts = [_sin_cos(boxes[..., i] * (2 * math.pi), dim_t) for i in range(boxes.shape[-1])]
    parts[0], parts[1] = parts[1], parts[0]
    return torch.cat(parts, dim=-1)


class PositionEmbeddingSineHW(nn.Module):
    """Sine encodings of feature positions with separate height / width temperatures (MMPose's).

    Args:
        num_pos_feats: channels per axis (the output has twice as many). Default 64.
        temperatureH: frequency base along y. Default 10000.
        temperatureW: frequency base along x. Default 10000.
        normalize: positions as fractions of the valid extent times ``scale``. Default False.
        scale: the range of normalized positions. Default 2 pi.
    """

    def __init__(
        self,
        num_pos_feats: int = 64,
        temperatureH: float = 10000,
        temperatureW: float = 10000,
        normalize: bool = False,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        if scale is not None and not normalize:
            raise ValueError("PositionEmbeddingSineHW: normalize must be True when scale is given")
        self.num_pos_feats, self.temperature_h, self.temperature_w = num_pos_feats, temperatureH, temperatureW
        self.normalize, self.scale = normalize, 2 * math.pi if scale is None else scale

    def forward(self, mask: Tensor) -> Tensor:
        """``mask (B, H, W)`` (True: padding) -> ``(B, 2 * num_pos_feats, H, W)``, y channels first."""
        valid = ~mask
        y = valid.cumsum(1, dtype=torch.float32)
        x = valid.cumsum(2, dtype=torch.float32)
        if self.normalize:
            y = y / (y[:, -1:, :] + 1e-6) * self.scale
            x = x / (x[:, :, -1:] + 1e-6) * self.scale
        pos_x = _sin_cos(x, _frequencies(self.num_pos_feats, self.temperature_w, mask.device))
        pos_y = _sin_cos(y, _frequencies(self.num_pos_feats, self.temperature_h, mask.device))
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


class DeformableEncoderLayer(nn.Module):
    """Deformable self-attention over all levels, norm, FFN, norm. ``(B, S, C)`` in and out."""

    def __init__(self, cfg: EncoderLayerConfig) -> None:
        super().__init__()
        _check_batch_first(cfg.self_attn_cfg, "encoder.layer_cfg.self_attn_cfg")
        self.self_attn = MultiScaleDeformableAttention(cfg.self_attn_cfg)
        self.ffn = FFN(cfg.ffn_cfg)
        dims = cfg.self_attn_cfg.embed_dims
        self.norms = nn.ModuleList(build_norm_layer(cfg.norm_cfg, dims)[1] for _ in range(2))

    def forward(self, x: Tensor, pos: Tensor, mask: Tensor, ref: Tensor, shapes: list[tuple[int, int]]) -> Tensor:
        x = self.norms[0](self.self_attn(x, pos, None, mask, ref, shapes))
        return self.norms[1](self.ffn(x))


class DeformableEncoder(nn.Module):
    """``num_layers`` encoder layers; each token attends around its own position on every level."""

    def __init__(self, num_layers: int, layer_cfg: EncoderLayerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DeformableEncoderLayer(layer_cfg) for _ in range(num_layers))

    @staticmethod
    def reference_points(shapes: list[tuple[int, int]], valid_ratios: Tensor) -> Tensor:
        """Token centres as fractions of their level's valid region, seen on every level: ``(B, S, L, 2)``."""
        refs = []
        for lvl, (h, w) in enumerate(shapes):
            ys, xs = torch.meshgrid(
                torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=valid_ratios.device),
                torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=valid_ratios.device),
                indexing="ij",
            )
            ry = ys.reshape(-1)[None] / (valid_ratios[:, None, lvl, 1] * h)
            rx = xs.reshape(-1)[None] / (valid_ratios[:, None, lvl, 0] * w)
            refs.append(torch.stack((rx, ry), -1))
        return torch.cat(refs, 1)[:, :, None] * valid_ratios[:, None]

    def forward(
        self, x: Tensor, pos: Tensor, mask: Tensor, shapes: list[tuple[int, int]], valid_ratios: Tensor
    ) -> Tensor:
        """``x``, ``pos (B, S, C)``, ``mask (B, S)``, ``valid_ratios (B, L, 2)`` -> memory ``(B, S, C)``."""
        ref = self.reference_points(shapes, valid_ratios)
        for layer in self.layers:
            x = layer(x, pos, mask, ref, shapes)
        return x


class DeformableDecoderLayer(nn.Module):
    """Self-attention among queries, deformable cross-attention to the memory, FFN; a norm after each."""

    def __init__(self, cfg: DecoderLayerConfig) -> None:
        super().__init__()
        _check_batch_first(cfg.cross_attn_cfg, "decoder.layer_cfg.cross_attn_cfg")
        self.self_attn = MultiheadAttention(cfg.self_attn_cfg)
        self.cross_attn = MultiScaleDeformableAttention(cfg.cross_attn_cfg)
        self.ffn = FFN(cfg.ffn_cfg)
        dims = cfg.self_attn_cfg.embed_dims
        self.norms = nn.ModuleList(build_norm_layer(cfg.norm_cfg, dims)[1] for _ in range(3))

    def forward(
        self,
        query: Tensor,
        query_pos: Tensor,
        memory: Tensor,
        memory_mask: Tensor,
        ref: Tensor,
        shapes: list[tuple[int, int]],
        attn_mask: Tensor | None,
    ) -> Tensor:
        """``query``, ``query_pos (B, Q, C)``, ``memory (B, S, C)``, ``ref (B, Q, L, 4)`` -> ``(B, Q, C)``."""
        query = self.norms[0](self.self_attn(query, query_pos, attn_mask))
        query = self.norms[1](self.cross_attn(query, query_pos, memory, memory_mask, ref, shapes))
        return self.norms[2](self.ffn(query))
