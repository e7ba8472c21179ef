"""DeformConv2d: the deformable convolution (DCNv1) of mmcv's compiled op, in plain torch.

Dai et al., "Deformable Convolutional Networks" (ICCV 2017), https://arxiv.org/abs/1703.06211.

Dimensions: B images, C input channels, O output channels, G conv groups, D deformable groups,
kernel ``kh x kw`` (its k-th tap at row ``i = k // kw``, column ``j = k % kw``), output ``H' x W'``.

``out[b, o, y, x] = sum_{c, k} weight[o, c, i, j] * bilinear(input[b, c], py, px)`` with
``py = y * stride - pad + i * dilation + offset[b, 2k, y, x]`` and ``px`` likewise with
``offset[b, 2k + 1, y, x]`` (the offsets of channel c's deformable group); a sample's corners outside
the image count as zero (mmcv's). Bilinear sampling is ``grid_sample`` (``align_corners=False``,
zero padding) at pixel coordinates, so no compiled op is needed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def deform_conv2d(
    x: Tensor,
    offset: Tensor,
    weight: Tensor,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
    deform_groups: int = 1,
) -> Tensor:
    """Deformable convolution (module docstring).

    Args:
        x: ``(B, C, H, W)``.
        offset: ``(B, D * 2 * kh * kw, H', W')``: per deformable group and tap, (dy, dx).
        weight: ``(O, C / G, kh, kw)``.

    Returns:
        ``(B, O, H', W')``.
    """
    b, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    taps = kh * kw
    ho, wo = offset.shape[-2:]
    if offset.shape[1] != deform_groups * 2 * taps or c % deform_groups or c != cg * groups:
        raise ValueError(
            f"deform_conv2d: input {tuple(x.shape)}, offset {tuple(offset.shape)} and weight {tuple(weight.shape)} "
            f"disagree with groups={groups}, deform_groups={deform_groups}"
        )
    ys = torch.arange(ho, device=x.device, dtype=x.dtype) * stride[0] - padding[0]
    xs = torch.arange(wo, device=x.device, dtype=x.dtype) * stride[1] - padding[1]
    ki = (torch.arange(taps, device=x.device) // kw).to(x.dtype) * dilation[0]
    kj = (torch.arange(taps, device=x.device) % kw).to(x.dtype) * dilation[1]
    off = offset.reshape(b, deform_groups, taps, 2, ho, wo)
    py = ys[None, None, None, :, None] + ki[None, None, :, None, None] + off[:, :, :, 0]  # (B, D, taps, H', W')
    px = xs[None, None, None, None, :] + kj[None, None, :, None, None] + off[:, :, :, 1]
    # grid_sample (align_corners=False) samples pixel p at normalized (2p + 1) / size - 1
    grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)
    grid = grid.reshape(b * deform_groups, taps * ho, wo, 2)
    sampled = F.grid_sample(
        x.reshape(b * deform_groups, c // deform_groups, h, w),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )  # (B * D, C / D, taps * H', W')
    cols = sampled.reshape(b, groups, cg, taps, ho * wo)
    out = torch.einsum("bgckp,gock->bgop", cols, weight.reshape(groups, o // groups, cg, taps))
    return out.reshape(b, o, ho, wo)


class DeformConv2d(nn.Module):
    """Deformable 2D convolution with mmcv's ``DeformConv2d`` arguments and state_dict (``weight``, ``bias``).

    ``forward(x (B, C, H, W), offset (B, D * 2 * kh * kw, H', W')) -> (B, O, H', W')``.

    Args:
        in_channels: C.
        out_channels: O.
        kernel_size: ``kh`` (and ``kw``).
        stride: stride. Default 1.
        padding: zero padding. Default 0.
        dilation: dilation. Default 1.
        groups: conv groups G. Default 1.
        deform_groups: deformable groups D (channels sharing one offset field). Default 1.
        bias: add a bias (mmcv's default False).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        deform_groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"DeformConv2d: channels {in_channels} -> {out_channels} not divisible by groups {groups}")
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        self.groups, self.deform_groups = groups, deform_groups
        kh, kw = _pair(kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        bound = 1 / math.sqrt(in_channels // groups * kh * kw)  # mmcv's uniform init
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: Tensor, offset: Tensor) -> Tensor:
        out = deform_conv2d(
            x, offset, self.weight, self.stride, self.padding, self.dilation, self.groups, self.deform_groups
        )
        return out if self.bias is None else out + self.bias[:, None, None]
