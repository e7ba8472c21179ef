"""Transformer bricks shared by backbones: stochastic depth and windowed self-attention with mmcv's names.

:class:`WindowMSA` has the keys of Swin's ``w_msa`` and HRFormer's ``attn.attn`` in MMPose.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DropPath(nn.Module):
    """Stochastic depth: in training, zero whole samples with probability ``drop_prob`` and rescale the rest."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        """``(B, ...)`` -> same shape."""
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = (keep + torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)).floor()
        return x.div(keep) * mask


def drop_path(rate: float) -> nn.Module:
    """:class:`DropPath` for a positive rate, else an identity (what mmcv builds for ``drop_prob=0``: no keys)."""
    return DropPath(rate) if rate > 0.0 else nn.Identity()


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class WindowMSA(nn.Module):
    """Multi-head self-attention inside ``Wh x Ww`` token windows, with a learned relative position bias.

    ``(B', N, C)`` with ``N = Wh * Ww`` (and an optional additive mask ``(num_windows, N, N)``) -> same shape.

    ``qk_scale`` overrides ``(C / num_heads) ** -0.5``; the bias table has ``(2Wh - 1) * (2Ww - 1)``
    entries per head.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        window_size: int | tuple[int, int],
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        with_rpe: bool = True,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.window_size = _pair(window_size)
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        self.with_rpe = with_rpe
        if with_rpe:
            wh, ww = self.window_size
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
            # token (i, j) of the window has index i * (2Ww - 1) + j; a pair's offset indexes the table
            seq = (torch.arange(0, (2 * ww - 1) * wh, 2 * ww - 1)[:, None] + torch.arange(ww)[None, :]).reshape(1, -1)
            self.register_buffer("relative_position_index", (seq + seq.T).flip(1).contiguous())
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop_rate)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop_rate)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``(B', N, C)`` -> ``(B', N, C)``; ``mask`` ``(num_windows, N, N)`` adds to the logits."""
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        if self.with_rpe:
            bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
            attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(b // windows, windows, self.num_heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, n, n)
        attn = self.attn_drop(attn.softmax(dim=-1))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(b, n, c)))
