"""Transformer bricks of RTMO, with MMPose / mmcv's module names (so checkpoint keys carry over).

- :class:`SinePositionalEncoding`: sine/cosine encodings of 1D or 2D positions (``dim_t`` buffer);
- :class:`DetrTransformerEncoderLayer`: post-norm self-attention + FFN (mmcv's ``MultiheadAttention``
  keys ``self_attn.attn.in_proj_weight``, ``FFN`` keys ``ffn.layers.0.0.weight``, ``norms.<i>``);
- :class:`GAUEncoder`: the gated attention unit over keypoint tokens of RTMO's DCC.

Dimensions: B batch, L tokens, C channels.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.nn import (
    FFN,
    AttnConfig,
    FFNConfig,
    GatedAttentionUnit,
    MultiheadAttention,
    NormConfig,
    build_norm_layer,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EncoderLayerConfig(_Frozen):
    """MMPose's ``DetrTransformerEncoderLayer`` arguments (HybridEncoder's ``encoder_cfg``).

    Args:
        self_attn_cfg: the self-attention. Default ``AttnConfig()``.
        ffn_cfg: the feed-forward network. Default ``FFNConfig()``.
        norm_cfg: the two norms after attention and FFN. Default LN.
    """

    self_attn_cfg: AttnConfig = AttnConfig()
    ffn_cfg: FFNConfig = FFNConfig()
    norm_cfg: NormConfig = NormConfig(type="LN")


class SinePositionalEncoding(nn.Module):
    """Sine/cosine positional encodings (MMPose's), ``dim_t = temperature ** (i / (out_channels / 2))``.

    ``forward(size=(h, w))`` (``spatial_dim=2``) returns ``(h*w, out_channels, 2)``: the row and column
    encodings stacked last; ``forward(position=p)`` (``spatial_dim=1``) returns ``p.shape + (out_channels,)``
    as ``cat(cos(p / dim_t), sin(p / dim_t))``.

    Args:
        out_channels: channels of one encoding (even).
        spatial_dim: 1 or 2. Default 1.
        temperature: frequency base. Default 1e5.
    """

    dim_t: Tensor

    def __init__(self, out_channels: int, spatial_dim: Literal[1, 2] = 1, temperature: float = 1e5) -> None:
        super().__init__()
        self.spatial_dim = spatial_dim
        half = out_channels // 2
        self.register_buffer("dim_t", temperature ** (torch.arange(half, dtype=torch.float32) / half))

    def _encode(self, pos: Tensor) -> Tensor:
        freq = pos.unsqueeze(-1) / self.dim_t
        return torch.cat((freq.cos(), freq.sin()), dim=-1)

    def forward(self, size: tuple[int, int] | None = None, position: Tensor | None = None) -> Tensor:
        if self.spatial_dim == 1:
            if position is None:
                raise ValueError("SinePositionalEncoding(spatial_dim=1) needs position")
            return self._encode(position)
        if size is None:
            raise ValueError("SinePositionalEncoding(spatial_dim=2) needs size=(h, w)")
        h, w = size
        device = self.dim_t.device
        grid_h, grid_w = torch.meshgrid(
            torch.arange(int(h), dtype=torch.float32, device=device),
            torch.arange(int(w), dtype=torch.float32, device=device),
            indexing="ij",
        )
        return torch.stack((self._encode(grid_h.flatten()), self._encode(grid_w.flatten())), dim=-1)


class DetrTransformerEncoderLayer(nn.Module):
    """Self-attention (positions on query and key), norm, FFN, norm. ``(B, L, C)`` in and out."""

    def __init__(self, cfg: EncoderLayerConfig) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(cfg.self_attn_cfg)
        self.embed_dims = cfg.self_attn_cfg.embed_dims
        self.ffn = FFN(cfg.ffn_cfg)
        self.norms = nn.ModuleList(build_norm_layer(cfg.norm_cfg, self.embed_dims)[1] for _ in range(2))

    def forward(self, query: Tensor, query_pos: Tensor | None, key_padding_mask: Tensor | None = None) -> Tensor:
        query = self.norms[0](self.self_attn(query, query_pos, key_padding_mask=key_padding_mask))
        return self.norms[1](self.ffn(query))


class DetrTransformerEncoder(nn.Module):
    """``num_layers`` encoder layers (keys ``layers.<i>``). ``(B, L, C)`` in and out."""

    def __init__(self, num_layers: int, cfg: EncoderLayerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DetrTransformerEncoderLayer(cfg) for _ in range(num_layers))

    def forward(self, query: Tensor, query_pos: Tensor | None) -> Tensor:
        for layer in self.layers:
            query = layer(query, query_pos)
        return query


class GAUConfig(_Frozen):
    """MMPose's ``GAUEncoder`` arguments (RTMO's ``dcc_cfg.gau_cfg``; token dims come from the DCC).

    Args:
        s: query/key dims. Default 128.
        expansion_factor: value dims / token dims. Default 2.
        eps: ScaleNorm's lower bound. Default 1e-5.
        dropout_rate: dropout on the attention kernel. Default 0.0.
        drop_path: stochastic depth (must be 0 here). Default 0.0.
        act_fn: ``SiLU`` or ``ReLU``. Default SiLU.
        bias: biases of the linear layers. Default False.
        use_rel_bias: accepted for MMPose's configs; must be False. Default False.
        pos_enc: ``none`` or ``add`` (a learned per-keypoint encoding added to query and key). Default none.
    """

    s: int = 128
    expansion_factor: float = 2
    eps: float = 1e-5
    dropout_rate: float = 0.0
    drop_path: Literal[0.0] = 0.0
    act_fn: Literal["SiLU", "ReLU"] = "SiLU"
    bias: bool = False
    use_rel_bias: Literal[False] = False
    pos_enc: Literal["none", "add"] = "none"


class GAUEncoder(GatedAttentionUnit):
    """Gated attention unit over tokens: ``(B, L, in_dims)`` -> ``(B, L, out_dims)`` (keys ``uv``, ``o``, ``gamma``,
    ``beta``, ``ln.g``, ``res_scale.scale``)."""

    def __init__(self, in_token_dims: int, out_token_dims: int, cfg: GAUConfig) -> None:
        super().__init__(
            in_token_dims, out_token_dims, cfg.expansion_factor, cfg.s, cfg.eps, cfg.dropout_rate, cfg.act_fn, cfg.bias
        )

    def forward(self, x: Tensor, pos_enc: Tensor | None = None) -> Tensor:
        """``x (..., L, C)``; ``pos_enc (L, s)`` added to queries and keys when given."""
        u, v, base = self.project(x)
        q, k = torch.unbind(base, dim=-2)
        if pos_enc is not None:
            q, k = q + pos_enc, k + pos_enc
        out = self.attend(u, v, torch.matmul(q, k.transpose(-1, -2)))
        return self.res_scale(x) + out if self.shortcut else out
