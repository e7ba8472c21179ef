"""Transformer bricks several plugins share: mmcv's DETR-style wrappers (RTMO's and ED-Pose's encoders and
decoders) and RTMPose's gated attention unit with its norms (RTMPose, RTMW, RTMO).

Dimensions: B batch, L tokens (queries), C channels; keys are mmcv's / MMPose's.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
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


class GatedAttentionUnit(nn.Module):
    """What RTMPose's and RTMO's gated attention units share (MMPose's ``RTMCCBlock`` / ``GAUEncoder`` keys ``w``,
    ``o``, ``uv``, ``gamma``, ``beta``, ``ln.g``, ``res_scale.scale``); subclasses add positions and ``forward``.

    Tokens ``(..., L, in_token_dims)``; :meth:`project` gives ``u``, ``v`` ``(..., L, e)`` and the query/key base
    ``(..., L, 2, s)``, :meth:`attend` the output ``(..., L, out_token_dims)``. ``rel_bias_tokens`` > 0 adds the
    relative-position weights ``w`` for that many tokens; equal widths add the ``res_scale`` shortcut.
    """

    def __init__(
        self,
        in_token_dims: int,
        out_token_dims: int,
        expansion_factor: float,
        s: int,
        eps: float,
        dropout_rate: float,
        act_fn: Literal["ReLU", "SiLU"],
        bias: bool,
        rel_bias_tokens: int = 0,
    ) -> None:
        super().__init__()
        self.s = s
        self.e = int(in_token_dims * expansion_factor)
        if rel_bias_tokens > 0:
            self.w = nn.Parameter(torch.rand([2 * rel_bias_tokens - 1], dtype=torch.float))
        self.o = nn.Linear(self.e, out_token_dims, bias=bias)
        self.uv = nn.Linear(in_token_dims, 2 * self.e + s, bias=bias)
        self.gamma = nn.Parameter(torch.rand((2, s)))
        self.beta = nn.Parameter(torch.rand((2, s)))
        self.ln = ScaleNorm(in_token_dims, eps=eps)
        nn.init.xavier_uniform_(self.uv.weight)
        self.act_fn = nn.SiLU(True) if act_fn == "SiLU" else nn.ReLU(True)
        self.shortcut = in_token_dims == out_token_dims
        if self.shortcut:
            self.res_scale = ChannelScale(in_token_dims)
        self.sqrt_s = math.sqrt(s)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else None

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``x (..., L, C)`` -> ``u``, ``v`` ``(..., L, e)`` and the query/key base ``(..., L, 2, s)``."""
        u, v, base = torch.split(self.act_fn(self.uv(self.ln(x))), [self.e, self.e, self.s], dim=-1)
        return u, v, base.unsqueeze(-2) * self.gamma + self.beta

    def attend(self, u: Tensor, v: Tensor, qk: Tensor) -> Tensor:
        """The squared-ReLU kernel of the scores ``qk (..., L, L)`` gates ``v`` by ``u``, then ``o``."""
        kernel = torch.square(F.relu(qk / self.sqrt_s))
        if self.dropout is not None:
            kernel = self.dropout(kernel)
        return self.o(u * torch.matmul(kernel, v))
