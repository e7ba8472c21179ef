"""DSTFormer: the dual-stream spatio-temporal transformer of MotionBERT.

Zhu et al., "MotionBERT: A Unified Perspective on Learning Human Motion Representations"
(ICCV 2023), https://arxiv.org/abs/2210.06551.

Dimensions: B sequences, F frames, K keypoints, C input channels (x, y, visibility),
E = ``feat_size`` feature channels. Input ``(B, F, K, C)`` (or ``(F, K, C)``); output a
one-element tuple holding ``(B, F, K, E)``. Each depth level runs two blocks on the same
tokens, spatial-then-temporal (``blocks_st``) and temporal-then-spatial (``blocks_ts``),
and mixes them with learned per-token weights (``att_fuse``) or averages them.

state_dict keys are MMPose's: ``joints_embed``, ``spat_embed``, ``temp_embed``,
``blocks_{st,ts}.i.{norm1_s,norm1_t,attn_s,attn_t,norm2_s,norm2_t,mlp_s,mlp_t}``,
``attn_regress.i``, ``norm``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from posekit.nn import DropPath, PretrainedInit, init_linears_and_norms, load_pretrained
from posekit.protocols import BaseBackbone


class _Attention(nn.Module):
    """Multi-head self-attention over the keypoints of a frame (``spatial``) or the frames of a keypoint (``temporal``).

    Input and output ``(B * F, K, E)``; ``seq_len`` F regroups the frames for the temporal mode.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool,
        qk_scale: float | None,
        attn_drop: float,
        proj_drop: float,
        mode: Literal["spatial", "temporal"],
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.mode = mode
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        attn = self.attn_drop(((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1))
        return attn @ v

    def forward(self, x: Tensor, seq_len: int) -> Tensor:
        bf, k, e = x.shape
        h = self.num_heads
        q, key, v = self.qkv(x).reshape(bf, k, 3, h, e // h).permute(2, 0, 3, 1, 4)  # each (BF, H, K, E/H)
        if self.mode == "spatial":
            out = self._attend(q, key, v).transpose(1, 2).reshape(bf, k, e)
        else:  # (BF, H, K, d) -> (B, H, K, F, d): attend over frames
            q, key, v = (t.reshape(-1, seq_len, h, k, e // h).permute(0, 2, 3, 1, 4) for t in (q, key, v))
            out = self._attend(q, key, v).permute(0, 3, 2, 1, 4).reshape(bf, k, e)
        return self.proj_drop(self.proj(out))


def _mlp(dim: int, hidden: int, drop: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(drop))


class _AttentionBlock(nn.Module):
    """Spatial and temporal attention + MLP sub-blocks in ``st`` or ``ts`` order; ``(B * F, K, E)`` in and out."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        qkv_bias: bool,
        qk_scale: float | None,
        drop: float,
        attn_drop: float,
        drop_path: float,
        st_mode: Literal["st", "ts"],
    ) -> None:
        super().__init__()
        self.st_mode = st_mode
        self.norm1_s = nn.LayerNorm(dim, eps=1e-6)
        self.norm1_t = nn.LayerNorm(dim, eps=1e-6)
        self.attn_s = _Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop, "spatial")
        self.attn_t = _Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop, "temporal")
        self.drop_path = DropPath(drop_path)
        self.norm2_s = nn.LayerNorm(dim, eps=1e-6)
        self.norm2_t = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_s = _mlp(dim, int(dim * mlp_ratio), drop)
        self.mlp_t = _mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: Tensor, seq_len: int) -> Tensor:
        spatial = (self.norm1_s, self.attn_s, self.norm2_s, self.mlp_s)
        temporal = (self.norm1_t, self.attn_t, self.norm2_t, self.mlp_t)
        for norm1, attn, norm2, mlp in (spatial, temporal) if self.st_mode == "st" else (temporal, spatial):
            x = x + self.drop_path(attn(norm1(x), seq_len))
            x = x + self.drop_path(mlp(norm2(x)))
        return x


class DSTFormer(BaseBackbone):
    """Dual-stream spatio-temporal transformer (MMPose's ``DSTFormer``).

    Args:
        in_channels: C, channels per input keypoint (3: x, y and visibility).
        feat_size: E, feature channels. Default 256.
        depth: number of dual-stream levels. Default 5.
        num_heads: attention heads. Default 8.
        mlp_ratio: MLP hidden width as a multiple of E. Default 4.
        num_keypoints: K. Default 17.
        seq_len: the longest F (the temporal embedding's length). Default 243.
        qkv_bias: bias in the q, k, v projection. Default True.
        qk_scale: attention scale; None: ``(E / num_heads) ** -0.5``.
        drop_rate: dropout after the embedding, the projections and the MLPs. Default 0.
        attn_drop_rate: dropout of the attention weights. Default 0.
        drop_path_rate: stochastic depth, rising linearly to this over the levels. Default 0.
        att_fuse: mix the two streams with learned weights (``attn_regress``); else average them. Default True.
        init_cfg: ``{"type": "Pretrained", "checkpoint": ...}`` to load weights; None: random init.
    """

    example_config: ClassVar[dict[str, Any]] = {
        "in_channels": 3,
        "feat_size": 16,
        "depth": 2,
        "num_heads": 2,
        "mlp_ratio": 2,
        "seq_len": 8,
    }
    example_inputs: ClassVar[dict[str, Any]] = {"input_shape": (2, 8, 17, 3)}

    def __init__(
        self,
        in_channels: int,
        feat_size: int = 256,
        depth: int = 5,
        num_heads: int = 8,
        mlp_ratio: float = 4,
        num_keypoints: int = 17,
        seq_len: int = 243,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        att_fuse: bool = True,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.feat_size = feat_size
        self.seq_len = seq_len
        self.num_keypoints = num_keypoints
        self.joints_embed = nn.Linear(in_channels, feat_size)
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()  # (also when built on meta)
        args = (feat_size, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate)
        self.blocks_st = nn.ModuleList(_AttentionBlock(*args, rates[i], "st") for i in range(depth))
        self.blocks_ts = nn.ModuleList(_AttentionBlock(*args, rates[i], "ts") for i in range(depth))
        self.norm = nn.LayerNorm(feat_size, eps=1e-6)
        self.temp_embed = nn.Parameter(torch.zeros(1, seq_len, 1, feat_size))
        self.spat_embed = nn.Parameter(torch.zeros(1, num_keypoints, feat_size))
        self.att_fuse = att_fuse
        if att_fuse:
            self.attn_regress = nn.ModuleList(nn.Linear(feat_size * 2, 2) for _ in range(depth))
        self.init_weights()
        if init_cfg is not None:
            load_pretrained(self, init_cfg)

    def init_weights(self) -> None:
        """Truncated-normal (std 0.02) linears and embeddings; fusion weights start at an even mix."""
        init_linears_and_norms(self)
        nn.init.trunc_normal_(self.temp_embed, std=0.02)
        nn.init.trunc_normal_(self.spat_embed, std=0.02)
        if self.att_fuse:
            for layer in self.attn_regress:
                nn.init.zeros_(layer.weight)
                nn.init.constant_(layer.bias, 0.5)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, F, K, C)`` (or ``(F, K, C)``) -> ``((B, F, K, E),)``; F must not exceed ``seq_len``."""
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[2] != self.num_keypoints or x.shape[3] != self.in_channels:
            raise ValueError(
                f"DSTFormer: expected input (B, F, K={self.num_keypoints}, C={self.in_channels}), got {tuple(x.shape)}"
            )
        b, f, k, _ = x.shape
        if f > self.seq_len:
            raise ValueError(f"DSTFormer: {f} frames exceed seq_len={self.seq_len}")
        x = self.joints_embed(x.reshape(b * f, k, -1)) + self.spat_embed
        x = (x.reshape(b, f, k, -1) + self.temp_embed[:, :f]).reshape(b * f, k, -1)
        x = self.pos_drop(x)
        for i, (blk_st, blk_ts) in enumerate(zip(self.blocks_st, self.blocks_ts, strict=True)):
            x_st, x_ts = blk_st(x, f), blk_ts(x, f)
            if self.att_fuse:
                alpha = self.attn_regress[i](torch.cat([x_st, x_ts], dim=-1)).softmax(dim=-1)
                x = x_st * alpha[..., 0:1] + x_ts * alpha[..., 1:2]
            else:
                x = (x_st + x_ts) * 0.5
        return (self.norm(x).reshape(b, f, k, -1),)
