"""Weight initialisers with mmcv/mmengine's defaults (``kaiming_init``, ``constant_init``, ``normal_init``) and
mmengine's ``init_cfg`` dicts (:func:`apply_init_cfg`).

Each takes a module with ``weight`` (and optionally ``bias``) and fills them in place;
a missing or ``None`` parameter is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from torch import Tensor, nn

from posekit.errors import ConfigError


def _fill(module: nn.Module, init: Callable[[Tensor], object], bias: float) -> None:
    """``init(module.weight)`` and ``module.bias`` set to ``bias``, each where the module has it."""
    if getattr(module, "weight", None) is not None:
        init(module.weight)
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
    init = nn.init.kaiming_normal_ if distribution == "normal" else nn.init.kaiming_uniform_
    _fill(module, lambda w: init(w, a=a, mode=mode, nonlinearity=nonlinearity), bias)


def constant_init(module: nn.Module, val: float, bias: float = 0.0) -> None:
    """Fill ``module.weight`` with ``val`` and its bias with ``bias`` (norm layers: 1 and 0)."""
    _fill(module, lambda w: nn.init.constant_(w, val), bias)


def normal_init(module: nn.Module, mean: float = 0.0, std: float = 1.0, bias: float = 0.0) -> None:
    """Fill ``module.weight`` from N(mean, std^2) and its bias with ``bias`` (HRNet: std 0.001)."""
    _fill(module, lambda w: nn.init.normal_(w, mean, std), bias)


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


def _xavier_init(module: nn.Module, gain: float = 1.0, bias: float = 0.0, distribution: str = "normal") -> None:
    init = nn.init.xavier_normal_ if distribution == "normal" else nn.init.xavier_uniform_
    _fill(module, lambda w: init(w, gain=gain), bias)


def _uniform_init(module: nn.Module, a: float = 0.0, b: float = 1.0, bias: float = 0.0) -> None:
    _fill(module, lambda w: nn.init.uniform_(w, a, b), bias)


#: mmengine's weight-init ``type`` names -> the initialiser (its keyword arguments as mmengine's)
_INITIALISERS = {
    "Normal": normal_init,
    "Constant": constant_init,
    "Kaiming": kaiming_init,
    "Xavier": _xavier_init,
    "Uniform": _uniform_init,
}


def apply_init_cfg(module: nn.Module, init_cfg: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Apply mmengine weight-init dicts in order, e.g. ``[dict(type='Normal', layer=['Conv2d', 'Linear'],
    std=0.001), dict(type='Constant', layer='BatchNorm2d', val=1)]``: each to every submodule whose class (or a
    base class) is named in ``layer``. ``bias_prob`` sets the bias to the logit of that prior (mmengine's)."""
    for item in [init_cfg] if isinstance(init_cfg, Mapping) else init_cfg:
        kwargs = dict(item)
        kind, layers = kwargs.pop("type", None), kwargs.pop("layer", None)
        if kind not in _INITIALISERS or layers is None:
            raise ConfigError(
                f"init_cfg {dict(item)!r}: needs a type among {sorted(_INITIALISERS)} and a layer "
                "(Pretrained is a checkpoint: use init_cfg on a backbone or train.load_from)"
            )
        names = {layers} if isinstance(layers, str) else set(layers)
        if (prob := kwargs.pop("bias_prob", None)) is not None:
            kwargs["bias"] = -math.log((1 - prob) / prob)
        for m in module.modules():
            if names & {c.__name__ for c in type(m).__mro__}:
                _INITIALISERS[kind](m, **kwargs)
