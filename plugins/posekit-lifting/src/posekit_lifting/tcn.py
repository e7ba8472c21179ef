"""TCN: the temporal convolutional backbone of VideoPose3D.

Pavllo et al., "3D human pose estimation in video with temporal convolutions and
semi-supervised training" (CVPR 2019), https://arxiv.org/abs/1811.11742.

Input ``(B, C, T)``: C = K * D channels (keypoint ``k``, coordinate ``d`` at ``D * k + d``)
over T frames. Each block shortens the sequence by ``(kernel - 1) * dilation`` frames (or
divides it by its kernel size with ``use_stride_conv``). Output: one ``(B, stem_channels, T_i)``
per block; with T equal to the receptive field (``prod(kernel_sizes)``) the last has T = 1.

state_dict keys are MMPose's: ``expand_conv.{conv,bn}``, ``tcn_blocks.i.conv1.0.{conv,bn}``,
``tcn_blocks.i.conv2.0.{conv,bn}``, ``tcn_blocks.i.short_cut``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import (
    NormConfig,
    PretrainedInit,
    build_norm_layer,
    constant_init,
    is_norm,
    kaiming_init,
    load_pretrained,
)
from posekit.protocols import BaseBackbone


def _check_conv_cfg(conv_cfg: Mapping[str, str] | None) -> None:
    if conv_cfg is not None and dict(conv_cfg) != {"type": "Conv1d"}:
        raise ConfigError(f"TCN conv_cfg: only {{'type': 'Conv1d'}} is supported, got {dict(conv_cfg)}")


class ConvModule1d(nn.Module):
    """Conv1d -> norm -> ReLU with mmcv's ``ConvModule`` keys (``conv``, ``bn``).

    Input ``(B, in_channels, T)``, output ``(B, out_channels, T')``. The conv has no bias (a norm follows).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        norm_cfg: NormConfig | Mapping[str, object] | None = NormConfig(type="BN1d"),
    ) -> None:
        super().__init__()
        bias = norm_cfg is None  # mmcv's bias='auto'
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, bias=bias)
        self.norm_name = ""
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
            constant_init(norm, 1.0)
        self.activate = nn.ReLU(inplace=True)
        kaiming_init(self.conv)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return self.activate(getattr(self, self.norm_name)(x) if self.norm_name else x)


class BasicTemporalBlock(nn.Module):
    """Dilated (or strided) conv -> 1x1 conv, each with norm, ReLU and dropout, plus a residual.

    Input ``(B, in_channels, T)``; output ``(B, out_channels, T - (kernel_size - 1) * dilation)``, or
    ``(B, out_channels, T // kernel_size)`` with ``use_stride_conv``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        mid_channels: channels after the first conv.
        kernel_size: odd temporal kernel size.
        dilation: temporal dilation (ignored with ``use_stride_conv``).
        dropout: dropout rate after each conv; 0 disables it.
        causal: use only past frames (shifts the residual crop).
        residual: add the (cropped) input.
        use_stride_conv: stride by ``kernel_size`` instead of dilating (single-frame output).
        norm_cfg: norm layer config.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int = 1024,
        kernel_size: int = 3,
        dilation: int = 3,
        dropout: float = 0.25,
        causal: bool = False,
        residual: bool = True,
        use_stride_conv: bool = False,
        norm_cfg: NormConfig | Mapping[str, object] | None = NormConfig(type="BN1d"),
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.residual = residual
        self.use_stride_conv = use_stride_conv
        self.pad = (kernel_size - 1) * dilation // 2
        if use_stride_conv:
            stride, self.dilation = kernel_size, 1
            self.causal_shift = kernel_size // 2 if causal else 0
        else:
            stride, self.dilation = 1, dilation
            self.causal_shift = kernel_size // 2 * dilation if causal else 0
        self.conv1 = nn.Sequential(
            ConvModule1d(
                in_channels, mid_channels, kernel_size, stride=stride, dilation=self.dilation, norm_cfg=norm_cfg
            )
        )
        self.conv2 = nn.Sequential(ConvModule1d(mid_channels, out_channels, 1, norm_cfg=norm_cfg))
        self.short_cut = nn.Conv1d(in_channels, out_channels, 1) if residual and in_channels != out_channels else None
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[2]
        if self.use_stride_conv:
            if self.causal_shift + self.kernel_size // 2 >= t:
                raise ValueError(f"BasicTemporalBlock: {t} frames are too few for kernel size {self.kernel_size}")
        elif not 0 <= self.pad + self.causal_shift < t - self.pad + self.causal_shift <= t:
            raise ValueError(
                f"BasicTemporalBlock: {t} frames are too few for kernel size {self.kernel_size} "
                f"and dilation {self.dilation} (needs more than {2 * self.pad})"
            )
        out = self.conv1(x)
        if self.dropout is not None:
            out = self.dropout(out)
        out = self.conv2(out)
        if self.dropout is not None:
            out = self.dropout(out)
        if not self.residual:
            return out
        if self.use_stride_conv:
            res = x[:, :, self.causal_shift + self.kernel_size // 2 :: self.kernel_size]
        else:
            res = x[:, :, self.pad + self.causal_shift : t - self.pad + self.causal_shift]
        if self.short_cut is not None:
            res = self.short_cut(res)
        return out + res


class TCN(BaseBackbone):
    """VideoPose3D's temporal convolutional network (MMPose's ``TCN``).

    Input ``(B, in_channels, T)``; returns one ``(B, stem_channels, T_i)`` per block.

    Args:
        in_channels: input channels, K * D (e.g. 34 for 17 2D keypoints).
        stem_channels: feature channels of every layer. Default 1024.
        num_blocks: temporal blocks; must equal ``len(kernel_sizes) - 1``. Default 2.
        kernel_sizes: odd kernel size of the expand conv then of each block. Default (3, 3, 3).
        dropout: dropout rate; 0 disables it. Default 0.25.
        causal: causal convolutions (real-time use). Default False.
        residual: residual connections. Default True.
        use_stride_conv: strided instead of dilated convs, for inputs exactly one receptive
            field long (single-frame output); same weights as the dilated form. Default False.
        conv_cfg: MMPose's conv config; only ``{'type': 'Conv1d'}`` (the default, None) exists.
        norm_cfg: norm layer config, or None for none (the convs then have a bias, as mmcv's). Default ``BN1d``.
        max_norm: clip each conv weight to this norm before every forward; None: no clipping.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)`` to load weights; default None.
    """

    example_config = {"in_channels": 34, "stem_channels": 32}  # a small working instance (posekit plugins --check)
    example_inputs = {"input_shape": (2, 34, 27)}  # (B, 2K, T): 2D keypoint sequences of 17 joints

    def __init__(
        self,
        in_channels: int,
        stem_channels: int = 1024,
        num_blocks: int = 2,
        kernel_sizes: tuple[int, ...] = (3, 3, 3),
        dropout: float = 0.25,
        causal: bool = False,
        residual: bool = True,
        use_stride_conv: bool = False,
        conv_cfg: Mapping[str, str] | None = None,
        norm_cfg: NormConfig | None = NormConfig(type="BN1d"),
        max_norm: float | None = None,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        _check_conv_cfg(conv_cfg)
        if num_blocks != len(kernel_sizes) - 1:
            raise ConfigError(
                f"TCN num_blocks ({num_blocks}) must equal len(kernel_sizes) - 1 ({len(kernel_sizes) - 1})"
            )
        if any(k % 2 != 1 for k in kernel_sizes):
            raise ConfigError(f"TCN kernel_sizes must be odd, got {tuple(kernel_sizes)}")
        self.in_channels = in_channels
        self.stem_channels = stem_channels
        self.num_blocks = num_blocks
        self.kernel_sizes = tuple(kernel_sizes)
        self.max_norm = max_norm
        self.expand_conv = ConvModule1d(
            in_channels,
            stem_channels,
            kernel_sizes[0],
            stride=kernel_sizes[0] if use_stride_conv else 1,
            norm_cfg=norm_cfg,
        )
        dilation = kernel_sizes[0]
        self.tcn_blocks = nn.ModuleList()
        for kernel in kernel_sizes[1:]:
            self.tcn_blocks.append(
                BasicTemporalBlock(
                    in_channels=stem_channels,
                    out_channels=stem_channels,
                    mid_channels=stem_channels,
                    kernel_size=kernel,
                    dilation=dilation,
                    dropout=dropout,
                    causal=causal,
                    residual=residual,
                    use_stride_conv=use_stride_conv,
                    norm_cfg=norm_cfg,
                )
            )
            dilation *= kernel
        if max_norm is not None:
            for module in self.modules():
                if isinstance(module, nn.modules.conv._ConvNd):
                    module.register_forward_pre_hook(self._clip_weight)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.init_cfg = init_cfg
        self.init_weights()

    def _clip_weight(self, module: nn.Module, _inputs: tuple[Tensor, ...]) -> None:
        """Scale ``module.weight`` down to ``max_norm`` when its norm exceeds it (MMPose's WeightNormClipHook)."""
        assert self.max_norm is not None
        with torch.no_grad():
            norm = module.weight.norm().item()
            if norm > self.max_norm:
                module.weight.mul_(self.max_norm / (norm + 1e-6))

    def init_weights(self) -> None:
        """Norm layers to 1 (MMPose's default), or the ``init_cfg`` checkpoint."""
        for m in self.modules():
            if is_norm(m):
                constant_init(m, 1.0)
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``x (B, in_channels, T)`` -> one ``(B, stem_channels, T_i)`` per block."""
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"TCN input: expected shape (B, {self.in_channels}, T), got {tuple(x.shape)}")
        x = self.expand_conv(x)
        if self.dropout is not None:
            x = self.dropout(x)
        outs = []
        for block in self.tcn_blocks:
            x = block(x)
            outs.append(x)
        return tuple(outs)
