"""Weight initialisers with mmcv/mmengine's defaults (``kaiming_init``, ``constant_init``, ``normal_init``).

Each takes a module with ``weight`` (and optionally ``bias``) and fills them in place;
a missing or ``None`` parameter is skipped.
"""

from __future__ import annotations

from typing import Literal

from torch import nn


def _fill_bias(module: nn.Module, bias: float) -> None:
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def kaiming_init(
    module: nn.Module,
    a: float = 0.0,
    mode: Literal["fan_in", "fan_out"] = "fan_out",
    nonlinearity: Literal["relu", "leaky_relu"] = "relu",
    bias: float = 0.0,
    distribution: Literal["normal", "uniform"] = "normal",
) -> None:
    """He initialisation of ``module.weight`` (mmcv's default: normal, fan_out, relu); bias constant."""
    if getattr(module, "weight", None) is not None:
        init = nn.init.kaiming_normal_ if distribution == "normal" else nn.init.kaiming_uniform_
        init(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _fill_bias(module, bias)


def constant_init(module: nn.Module, val: float, bias: float = 0.0) -> None:
    """Fill ``module.weight`` with ``val`` and its bias with ``bias`` (norm layers: 1 and 0)."""
    if getattr(module, "weight", None) is not None:
        nn.init.constant_(module.weight, val)
    _fill_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0.0, std: float = 1.0, bias: float = 0.0) -> None:
    """Fill ``module.weight`` from N(mean, std^2) and its bias with ``bias`` (HRNet: std 0.001)."""
    if getattr(module, "weight", None) is not None:
        nn.init.normal_(module.weight, mean, std)
    _fill_bias(module, bias)


def init_linears_and_norms(module: nn.Module) -> None:
    """Truncated-normal Linear weights (std 0.02) with zero biases, unit LayerNorms (Swin / PVT / DSTFormer)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def is_norm(module: nn.Module) -> bool:
    """True for BatchNorm (incl. SyncBatchNorm), GroupNorm, LayerNorm and InstanceNorm layers."""
    return isinstance(
        module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
    )
