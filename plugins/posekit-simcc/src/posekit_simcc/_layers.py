"""Shared bricks of the SimCC heads: RTMPose's gated attention unit, SimCC accuracy, target access.

Dimensions: B samples, K keypoints (the attention's tokens), ``Wx`` / ``Wy`` SimCC bins.
Module attribute names are MMPose's (``mmpose/models/utils/rtmcc_block.py``), so state_dict
keys match its checkpoints.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.metrics.functional import keypoint_pck_accuracy
from posekit.nn import GatedAttentionUnit
from posekit.nn import drop_path as make_drop_path
from posekit_simcc.simcc_utils import get_simcc_maximum


class GAUConfig(BaseModel):
    """RTMCCHead's ``gau_cfg``: the gated attention unit over the K keypoint tokens.

    Args:
        hidden_dims: token width. Default 256.
        s: width of the shared query/key base. Default 128.
        expansion_factor: width of u and v as a multiple of the token width. Default 2.
        dropout_rate: dropout on the attention kernel. Default 0.
        drop_path: stochastic-depth rate of the block. Default 0.
        act_fn: activation after the uv projection. Default ``ReLU``.
        use_rel_bias: add a learned relative-position bias to the attention. Default False.
        pos_enc: apply rotary position embedding to queries and keys. Default False.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden_dims: int = 256
    s: int = 128
    expansion_factor: int = 2
    dropout_rate: float = 0.0
    drop_path: float = 0.0
    act_fn: Literal["ReLU", "SiLU"] = "ReLU"
    use_rel_bias: bool = False
    pos_enc: bool = False


def rope(x: Tensor, dim: int) -> Tensor:
    """Rotary position embedding of ``x (..., L, ..., C)`` along axis ``dim`` (RoFormer)."""
    length = x.shape[dim]
    position = torch.arange(length, dtype=torch.int, device=x.device)
    position = position.reshape(length, *(1,) * (x.ndim - dim - 2))
    half = x.shape[-1] // 2
    inv_freq = 10000 ** (torch.arange(half, dtype=torch.int, device=x.device) / float(half))
    sinusoid = position[..., None] * inv_freq
    sin, cos = torch.sin(sinusoid), torch.cos(sinusoid)
    x1, x2 = torch.chunk(x, 2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class RTMCCBlock(GatedAttentionUnit):
    """Gated attention unit (self-attention over the keypoint tokens) of RTMPose.

    ``(B, K, in_token_dims)`` -> ``(B, K, out_token_dims)``; with equal widths the block adds a
    learned-scale shortcut.

    Args:
        num_token: K, the number of tokens.
        in_token_dims: input token width.
        out_token_dims: output token width.
        expansion_factor: width of u and v as a multiple of the input width. Default 2.
        s: width of the query/key base. Default 128.
        eps: ScaleNorm's smallest normaliser. Default 1e-5.
        dropout_rate: dropout on the attention kernel. Default 0.
        drop_path: stochastic-depth rate. Default 0.
        act_fn: ``SiLU`` or ``ReLU`` after the uv projection. Default ``SiLU``.
        bias: biases in the linear layers. Default False.
        use_rel_bias: learned relative-position bias. Default True.
        pos_enc: rotary position embedding of queries and keys. Default False.
    """

    def __init__(
        self,
        num_token: int,
        in_token_dims: int,
        out_token_dims: int,
        expansion_factor: int = 2,
        s: int = 128,
        eps: float = 1e-5,
        dropout_rate: float = 0.0,
        drop_path: float = 0.0,
        act_fn: Literal["ReLU", "SiLU"] = "SiLU",
        bias: bool = False,
        use_rel_bias: bool = True,
        pos_enc: bool = False,
    ) -> None:
        rel_bias_tokens = num_token if use_rel_bias else 0
        super().__init__(
            in_token_dims, out_token_dims, expansion_factor, s, eps, dropout_rate, act_fn, bias, rel_bias_tokens
        )
        self.num_token = num_token
        self.use_rel_bias = use_rel_bias
        self.pos_enc = pos_enc
        self.drop_path: nn.Module = make_drop_path(drop_path)

    def rel_pos_bias(self, seq_len: int) -> Tensor:
        """Relative-position bias ``(1, L, L)``: entry (i, j) is ``w[j - i + L - 1]``."""
        t = F.pad(self.w[: 2 * seq_len - 1], [0, seq_len]).repeat(seq_len)
        t = t[..., :-seq_len].reshape(-1, seq_len, 3 * seq_len - 2)
        r = (2 * seq_len - 1) // 2
        return t[..., r:-r]

    def _forward(self, x: Tensor) -> Tensor:
        u, v, base = self.project(x)  # base (B, K, 2, s)
        if self.pos_enc:
            base = rope(base, dim=1)
        q, k = torch.unbind(base, dim=2)
        qk = torch.bmm(q, k.permute(0, 2, 1))  # (B, K, K)
        if self.use_rel_bias:
            qk = qk + self.rel_pos_bias(q.size(1))[:, : q.size(1), : k.size(1)]
        return self.attend(u, v, qk)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, K, in_token_dims)`` -> ``(B, K, out_token_dims)``."""
        if self.shortcut:
            return self.res_scale(x) + self.drop_path(self._forward(x))
        return self.drop_path(self._forward(x))


def simcc_pck_accuracy(
    output: tuple[np.ndarray, np.ndarray],
    target: tuple[np.ndarray, np.ndarray],
    simcc_split_ratio: float,
    mask: np.ndarray,
    thr: float = 0.05,
) -> tuple[np.ndarray, float, int]:
    """PCK of SimCC maxima in input pixels, normalised by the input size (MMPose's ``simcc_pck_accuracy``).

    Args:
        output: predicted ``(x (N, K, Wx), y (N, K, Wy))``.
        target: target vectors of the same shapes.
        simcc_split_ratio: bins per input pixel.
        mask: ``(N, K)`` bool, which keypoints count.
        thr: threshold on the distance divided by ``(h, w)`` (MMPose's x-by-h, y-by-w order). Default 0.05.

    Returns:
        ``(acc (K,), avg_acc, cnt)`` as :func:`posekit.metrics.functional.keypoint_pck_accuracy`.
    """
    n, _, wx = output[0].shape
    w, h = int(wx / simcc_split_ratio), int(output[1].shape[2] / simcc_split_ratio)
    normalize = np.tile(np.array([[h, w]]), (n, 1))
    pred, _ = get_simcc_maximum(*output)
    gt, _ = get_simcc_maximum(*target)
    return keypoint_pck_accuracy(pred / simcc_split_ratio, gt / simcc_split_ratio, mask, thr, normalize)


def get_simcc_normalized(simcc: Tensor, sigma: float | None = None) -> Tensor:
    """SimCC vectors ``(B, K, L)`` made displayable: optionally divided by ``sigma * sqrt(2 pi)``,
    clipped at 0, and divided by their maximum where it exceeds 1 (MMPose's ``get_simcc_normalized``)."""
    if sigma is not None:
        simcc = simcc / (sigma * np.sqrt(np.pi * 2))
    simcc = simcc.clamp(min=0)
    peak = simcc.amax(dim=-1, keepdim=True)
    return torch.where(peak > 1, simcc / peak, simcc)
