"""ResNet residual blocks (MMPose's ``BasicBlock`` and ``Bottleneck``), shared by ResNet and HRNet.

State_dict keys match MMPose's: ``conv1``, ``bn1``, ``conv2``, ``bn2`` (``conv3``, ``bn3``) and
``downsample.0`` / ``downsample.1`` (the norm name follows ``norm_cfg``: ``gn1`` for GroupNorm).
Modules are registered in data order so :func:`posekit.nn.fuse_conv_bn` folds them correctly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from torch import Tensor, nn

from posekit.nn.bricks import NamedNorms, add_conv_norm, build_norm_layer
from posekit.nn.configs import NormConfig
from posekit.nn.init import constant_init
from posekit.nn.units import run_block

Style = Literal["pytorch", "caffe"]
_BN = NormConfig(type="BN")


class _ResidualBlock(NamedNorms, nn.Module):
    """What :class:`BasicBlock` and :class:`Bottleneck` share: mmcv's keys, the shortcut, checkpointing.

    ``(B, in_channels, H, W) -> (B, out_channels, H/s, W/s)``; a subclass builds its branch in
    :meth:`_build` (``conv{i}`` and ``norm{i}`` by :func:`~posekit.nn.bricks.add_conv_norm`) and
    runs it in :meth:`_branch`. ``expansion`` is out / inner channels (None: the class's 1 or 4);
    ``style`` puts a Bottleneck's stride on the 3x3 conv (``pytorch``) or the first 1x1 (``caffe``).
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: int | None = None,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
        style: Style = "pytorch",
        with_cp: bool = False,
        norm_cfg: NormConfig | Mapping[str, Any] = _BN,
    ) -> None:
        super().__init__()
        expansion = type(self).expansion if expansion is None else expansion
        if out_channels % expansion or (type(self).expansion == 1 and expansion != 1):
            raise ValueError(
                f"{type(self).__name__}: out_channels ({out_channels}) must be a multiple of expansion "
                f"({expansion}), which is 1 for a BasicBlock"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.mid_channels = out_channels // expansion
        self.stride = stride
        self.with_cp = with_cp
        self._build(norm_cfg, dilation, style)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def _build(self, norm_cfg: NormConfig | Mapping[str, Any], dilation: int, style: Style) -> None:
        raise NotImplementedError

    def _branch(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _residual(self, x: Tensor) -> Tensor:
        out = self._branch(x)
        out += x if self.downsample is None else self.downsample(x)  # in place: a norm's output, not saved
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(run_block(self._residual, x, with_cp=self.with_cp))


class BasicBlock(_ResidualBlock):
    """Two 3x3 convs (the first strided and dilated) with a shortcut; arguments as :class:`_ResidualBlock`."""

    expansion = 1

    def _build(self, norm_cfg: NormConfig | Mapping[str, Any], dilation: int, style: Style) -> None:
        out = self.out_channels
        conv1 = nn.Conv2d(self.in_channels, out, 3, self.stride, padding=dilation, dilation=dilation, bias=False)
        add_conv_norm(self, 1, conv1, norm_cfg)
        add_conv_norm(self, 2, nn.Conv2d(out, out, 3, padding=1, bias=False), norm_cfg)

    def _branch(self, x: Tensor) -> Tensor:
        return self.norm2(self.conv2(self.relu(self.norm1(self.conv1(x)))))


class Bottleneck(_ResidualBlock):
    """1x1 -> 3x3 (dilated) -> 1x1 convs with a shortcut; the stride sits on the 3x3 conv (``pytorch``)
    or the first 1x1 (``caffe``). Arguments as :class:`_ResidualBlock`."""

    expansion = 4

    def _build(self, norm_cfg: NormConfig | Mapping[str, Any], dilation: int, style: Style) -> None:
        mid = self.mid_channels
        stride1, stride2 = (1, self.stride) if style == "pytorch" else (self.stride, 1)
        add_conv_norm(self, 1, nn.Conv2d(self.in_channels, mid, 1, stride1, bias=False), norm_cfg)
        conv2 = nn.Conv2d(mid, mid, 3, stride2, padding=dilation, dilation=dilation, bias=False)
        add_conv_norm(self, 2, conv2, norm_cfg)
        add_conv_norm(self, 3, nn.Conv2d(mid, self.out_channels, 1, bias=False), norm_cfg)

    def _branch(self, x: Tensor) -> Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        return self.norm3(self.conv3(out))


def get_expansion(block: type[nn.Module], expansion: int | None = None) -> int:
    """``expansion`` if given, else the block class's own (1 for BasicBlock, 4 for Bottleneck)."""
    if expansion is not None:
        if expansion <= 0:
            raise ValueError(f"expansion must be a positive int, got {expansion}")
        return expansion
    return int(block.expansion)  # type: ignore[attr-defined]


def conv_norm(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int,
    norm_cfg: NormConfig | Mapping[str, Any],
    relu: bool = False,
) -> nn.Sequential:
    """``Sequential(conv (no bias), norm[, ReLU])`` keyed ``0``, ``1``[, ``2``], MMPose's shortcut/transition layout."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=(kernel_size - 1) // 2, bias=False),
        build_norm_layer(norm_cfg, out_channels)[1],
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def zero_init_last_norms(module: nn.Module) -> None:
    """Zero the last norm of each residual block in ``module`` (``zero_init_residual``): blocks start as identities."""
    for m in module.modules():
        if isinstance(m, Bottleneck):
            constant_init(m.norm3, 0.0)
        elif isinstance(m, BasicBlock):
            constant_init(m.norm2, 0.0)
