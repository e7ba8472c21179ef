"""Transformer bricks several plugins share: mmcv's DETR-style wrappers (RTMO's and ED-Pose's encoders and
decoders) and the norms of RTMPose's gated attention units (RTMPose, RTMW, RTMO).

Dimensions: B batch, L tokens (queries), C channels; keys are mmcv's / MMPose's.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.nn.bricks import build_activation_layer
from posekit.nn.configs import ActConfig


class AttnConfig(BaseModel):
    """mmcv's ``MultiheadAttention`` arguments; ``dropout`` is MMPose's deprecated spelling of both dropouts.

    ``batch_first`` (inputs ``(B, L, C)``) must be True.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    embed_dims: int = 256
    num_heads: int = 8
    dropout: float = 0.0
    attn_drop: float = 0.0
    proj_drop: float = 0.0
    batch_first: Literal[True] = True


class FFNConfig(BaseModel):
    """mmcv's ``FFN`` arguments (``num_fcs`` at least 2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    embed_dims: int = 256
    feedforward_channels: int = 1024
    num_fcs: int = 2
    ffn_drop: float = 0.0
    act_cfg: ActConfig = ActConfig(type="ReLU", inplace=True)
    add_identity: bool = True


class MultiheadAttention(nn.Module):
    """mmcv's wrapper of :class:`torch.nn.MultiheadAttention`: positions added to query and key, the value
    left as given, the input added back. ``(B, L, C)`` in and out."""

    def __init__(self, cfg: AttnConfig) -> None:
        super().__init__()
        self.embed_dims = cfg.embed_dims
        self.attn = nn.MultiheadAttention(cfg.embed_dims, cfg.num_heads, cfg.dropout or cfg.attn_drop)
        self.proj_drop = nn.Dropout(cfg.proj_drop)
        self.dropout_layer = nn.Dropout(cfg.dropout)

    def forward(
        self,
        query: Tensor,
        query_pos: Tensor | None = None,
        attn_mask: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """``query (B, L, C)``, ``query_pos`` of its shape, ``attn_mask (L, L)`` True where blocked,
        ``key_padding_mask (B, L)`` -> ``(B, L, C)``."""
        qk = (query if query_pos is None else query + query_pos).transpose(0, 1)
        out = self.attn(
            qk, qk, query.transpose(0, 1), attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False
        )[0]
        return query + self.dropout_layer(self.proj_drop(out.transpose(0, 1)))


class FFN(nn.Module):
    """mmcv's feed-forward network: ``num_fcs - 1`` (linear, activation, dropout) blocks, a linear layer back to
    C and a dropout, the input added when ``add_identity``. ``(..., C)`` in and out."""

    def __init__(self, cfg: FFNConfig) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = cfg.embed_dims
        for _ in range(cfg.num_fcs - 1):
            act = build_activation_layer(cfg.act_cfg)
            blocks.append(nn.Sequential(nn.Linear(width, cfg.feedforward_channels), act, nn.Dropout(cfg.ffn_drop)))
            width = cfg.feedforward_channels
        self.layers = nn.Sequential(*blocks, nn.Linear(width, cfg.embed_dims), nn.Dropout(cfg.ffn_drop))
        self.add_identity = cfg.add_identity

    def forward(self, x: Tensor) -> Tensor:
        return x + self.layers(x) if self.add_identity else self.layers(x)


class ScaleNorm(nn.Module):
    """``x / max(||x||_2 / sqrt(dim), eps) * g`` over the last axis, with one learned gain ``g``."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.scale = dim**-0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: Tensor) -> Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class ChannelScale(nn.Module):
    """``x * scale`` with a learned scale per channel of the last axis (initialised to ones; MMPose's ``Scale``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale
