"""Layer bricks shared by the plugins, with mmcv's names so MMPose state_dict keys carry over."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn.configs import ActConfig, NormConfig, as_config
from posekit.nn.init import constant_init, kaiming_init

NormCfg = NormConfig | Mapping[str, Any]
ActCfg = ActConfig | Mapping[str, Any]

_BN = {"BN": nn.BatchNorm2d, "BN2d": nn.BatchNorm2d, "BN1d": nn.BatchNorm1d, "BN3d": nn.BatchNorm3d}
_IN = {"IN": nn.InstanceNorm2d, "IN2d": nn.InstanceNorm2d, "IN1d": nn.InstanceNorm1d, "IN3d": nn.InstanceNorm3d}
#: activations that take ``inplace`` (mmcv leaves the others alone)
_INPLACE = frozenset({"ReLU", "ReLU6", "LeakyReLU", "ELU", "SiLU", "HSigmoid", "HSwish"})


def _distributed_world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def norm_abbr(layer: nn.Module) -> str:
    """mmcv's key prefix of a norm layer: ``bn``, ``gn``, ``ln``, ``in`` (else ``norm``)."""
    if isinstance(layer, nn.modules.instancenorm._InstanceNorm):
        return "in"
    if isinstance(layer, nn.modules.batchnorm._BatchNorm):
        return "bn"
    if isinstance(layer, nn.GroupNorm):
        return "gn"
    if isinstance(layer, nn.LayerNorm):
        return "ln"
    return "norm"


def build_norm_layer(cfg: NormCfg, num_features: int, postfix: int | str = "") -> tuple[str, nn.Module]:
    """``(name, layer)``: a norm over C of ``(B, C, ...)`` (last dim for ``LN``), named e.g. ``bn1`` for postfix 1."""
    c = as_config(NormConfig, cfg, "norm_cfg")
    opts: dict[str, Any] = {"eps": c.eps} if c.eps is not None else {}
    if c.type in ("GN", "LN") and c.momentum is not None:
        raise ConfigError(f"norm_cfg type {c.type!r} has no momentum (got momentum={c.momentum})")
    if c.type != "GN" and c.num_groups is not None:
        raise ConfigError(f"norm_cfg num_groups applies to type 'GN' only, got type {c.type!r}")
    if c.momentum is not None:
        opts["momentum"] = c.momentum
    layer: nn.Module
    if c.type in _BN:
        layer = _BN[c.type](num_features, affine=c.affine, **opts)
    elif c.type == "SyncBN":
        bn = nn.SyncBatchNorm if _distributed_world_size() > 1 else nn.BatchNorm2d
        layer = bn(num_features, affine=c.affine, **opts)
    elif c.type == "GN":
        if c.num_groups is None:
            raise ConfigError("norm_cfg type 'GN' needs num_groups, e.g. dict(type='GN', num_groups=32)")
        layer = nn.GroupNorm(c.num_groups, num_features, affine=c.affine, **opts)
    elif c.type == "LN":
        layer = nn.LayerNorm(num_features, elementwise_affine=c.affine, **opts)
    else:
        layer = _IN[c.type](num_features, affine=c.affine, **opts)
    for p in layer.parameters():
        p.requires_grad_(c.requires_grad)
    return f"{norm_abbr(layer)}{postfix}", layer


def build_activation_layer(cfg: ActCfg) -> nn.Module:
    """Build an activation from ``dict(type='ReLU', inplace=True)`` (see :class:`ActConfig`)."""
    c = as_config(ActConfig, cfg, "act_cfg")
    if c.inplace is not None and c.type not in _INPLACE:
        raise ConfigError(f"act_cfg type {c.type!r} takes no 'inplace' argument")
    if c.negative_slope is not None and c.type != "LeakyReLU":
        raise ConfigError(f"act_cfg negative_slope applies to type 'LeakyReLU' only, got type {c.type!r}")
    if (c.bias is not None or c.divisor is not None) and c.type != "HSigmoid":
        raise ConfigError(f"act_cfg bias and divisor apply to type 'HSigmoid' only, got type {c.type!r}")
    inplace = bool(c.inplace)
    if c.type == "HSigmoid" and (c.bias, c.divisor) not in ((None, None), (3.0, 6.0)):
        return HSigmoid(3.0 if c.bias is None else c.bias, 6.0 if c.divisor is None else c.divisor)
    table: dict[str, Any] = {
        "ReLU": lambda: nn.ReLU(inplace),
        "ReLU6": lambda: nn.ReLU6(inplace),
        "LeakyReLU": lambda: nn.LeakyReLU(0.01 if c.negative_slope is None else c.negative_slope, inplace),
        "PReLU": nn.PReLU,
        "ELU": lambda: nn.ELU(inplace=inplace),
        "SiLU": lambda: nn.SiLU(inplace),
        "Swish": nn.SiLU,
        "GELU": nn.GELU,
        "Sigmoid": nn.Sigmoid,
        "Tanh": nn.Tanh,
        "HSigmoid": lambda: nn.Hardsigmoid(inplace),
        "HSwish": lambda: nn.Hardswish(inplace),
    }
    return table[c.type]()


class HSigmoid(nn.Module):
    """mmcv's ``HSigmoid``: ``clamp((x + bias) / divisor, 0, 1)`` (torch's Hardsigmoid is bias 3, divisor 6)."""

    def __init__(self, bias: float, divisor: float) -> None:
        super().__init__()
        if divisor == 0:
            raise ConfigError("act_cfg HSigmoid divisor must not be 0")
        self.bias = bias
        self.divisor = divisor

    def forward(self, x: Tensor) -> Tensor:
        return ((x + self.bias) / self.divisor).clamp(0.0, 1.0)


class ConvModule(nn.Module):
    """Conv2d -> norm -> activation, with mmcv's ``ConvModule`` state_dict keys.

    Input ``(B, in_channels, H, W)``, output ``(B, out_channels, H', W')``. Keys: ``conv.*``,
    the norm under its abbreviation (``bn.*``, ``gn.*``), ``activate`` (no parameters except PReLU).
    ``bias="auto"`` adds a conv bias only without a norm layer; ``act_cfg=None`` means no activation.
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
        bias: bool | Literal["auto"] = "auto",
        norm_cfg: NormCfg | None = None,
        act_cfg: ActCfg | None = ActConfig(type="ReLU"),
        inplace: bool = True,
    ) -> None:
        super().__init__()
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=not self.with_norm if bias == "auto" else bias,
        )
        self.norm_name: str | None = None
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
            constant_init(norm, 1.0)
        self.activate: nn.Module | None = None
        if act_cfg is not None:
            act = as_config(ActConfig, act_cfg, "act_cfg")
            if act.inplace is None and act.type in _INPLACE:
                act = act.model_copy(update={"inplace": inplace})
            self.activate = build_activation_layer(act)
            is_leaky = act.type == "LeakyReLU"
            slope = 0.01 if act.negative_slope is None else act.negative_slope
            kaiming_init(self.conv, a=slope if is_leaky else 0.0, nonlinearity="leaky_relu" if is_leaky else "relu")
        else:
            kaiming_init(self.conv)

    @property
    def norm(self) -> nn.Module | None:
        """The norm layer (``bn``/``gn``/...), or None."""
        return getattr(self, self.norm_name) if self.norm_name is not None else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.norm_name is not None:
            x = getattr(self, self.norm_name)(x)
        if self.activate is not None:
            x = self.activate(x)
        return x


class DepthwiseSeparableConvModule(nn.Module):
    """Depthwise ConvModule (groups = in_channels) then a 1x1 pointwise ConvModule.

    Input ``(B, in_channels, H, W)``, output ``(B, out_channels, H', W')``; keys
    ``depthwise_conv.*`` and ``pointwise_conv.*``. Kernel, stride, padding and dilation are the
    depthwise conv's; ``dw_act_cfg``/``pw_act_cfg`` ``"default"`` take ``act_cfg``, None none.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        norm_cfg: NormCfg | None = None,
        act_cfg: ActCfg | None = ActConfig(type="ReLU"),
        dw_act_cfg: ActCfg | Literal["default"] | None = "default",
        pw_act_cfg: ActCfg | Literal["default"] | None = "default",
    ) -> None:
        super().__init__()
        dw_act_cfg = act_cfg if dw_act_cfg == "default" else dw_act_cfg
        pw_act_cfg = act_cfg if pw_act_cfg == "default" else pw_act_cfg
        self.depthwise_conv = ConvModule(
            in_channels,
            in_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=in_channels,
            norm_cfg=norm_cfg,
            act_cfg=dw_act_cfg,
        )
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=pw_act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


def add_conv_norm(module: nn.Module, index: int, conv: nn.Conv2d, norm_cfg: NormConfig | Mapping[str, Any]) -> None:
    """Register ``conv{index}`` and its norm under mmcv's name (``bn{index}``, ``gn{index}``, ...) on ``module``.

    The norm's name is kept in ``norm{index}_name``; :class:`NamedNorms` reads it back.
    """
    setattr(module, f"conv{index}", conv)
    name, norm = build_norm_layer(norm_cfg, conv.out_channels, postfix=index)
    setattr(module, f"norm{index}_name", name)
    module.add_module(name, norm)


class NamedNorms:
    """``norm1`` .. ``norm3``: the norm layers registered by :func:`add_conv_norm` (mmcv's property names)."""

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)  # type: ignore[attr-defined]

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)  # type: ignore[attr-defined]

    @property
    def norm3(self) -> nn.Module:
        return getattr(self, self.norm3_name)  # type: ignore[attr-defined]
