"""Typed layer configs: MMPose's ``norm_cfg``, ``act_cfg`` and ``init_cfg`` dicts as pydantic models.

A constructor annotates ``norm_cfg: NormConfig = NormConfig(type="BN")``: the registry then
validates a config's ``dict(type='SyncBN', momentum=0.03)`` into a frozen model, and a
Python caller may pass the plain dict (the builders validate it the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from posekit.errors import ConfigError

NormType = Literal["BN", "BN1d", "BN2d", "BN3d", "SyncBN", "GN", "LN", "IN", "IN1d", "IN2d", "IN3d"]
ActType = Literal[
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SiLU", "Swish", "GELU", "Sigmoid", "Tanh", "HSigmoid", "HSwish"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NormConfig(_Frozen):
    """A normalization layer, as mmcv's ``build_norm_layer`` reads it.

    Args:
        type: ``BN`` (BatchNorm2d; ``BN1d``/``BN3d`` for other ranks), ``SyncBN`` (SyncBatchNorm
            when torch.distributed runs with more than one process, else BatchNorm2d), ``GN``
            (GroupNorm, needs ``num_groups``), ``LN`` (LayerNorm over the last dim), ``IN``.
        requires_grad: train the affine parameters. Default True.
        momentum: running-statistics momentum; default None (torch's 0.1).
        eps: added to the variance; default None (torch's 1e-5).
        num_groups: groups of ``GN``; default None.
        affine: learn a scale and shift. Default True.
    """

    type: NormType
    requires_grad: bool = True
    momentum: float | None = None
    eps: float | None = None
    num_groups: int | None = None
    affine: bool = True


class ActConfig(_Frozen):
    """An activation layer, as mmcv's ``build_activation_layer`` reads it.

    Args:
        type: activation name (``Swish`` is mmcv's ``x * sigmoid(x)``, i.e. SiLU;
            ``HSigmoid``/``HSwish`` are torch's Hardsigmoid/Hardswish).
        inplace: compute in place where the layer supports it; default None (the caller's choice).
        negative_slope: slope of ``LeakyReLU``; default None (0.01).
        bias: ``HSigmoid``'s ``clamp((x + bias) / divisor, 0, 1)``; default None (3.0).
        divisor: ``HSigmoid``'s divisor; default None (6.0).
    """

    type: ActType
    inplace: bool | None = None
    negative_slope: float | None = None
    bias: float | None = None
    divisor: float | None = None


class FinalLayerConfig(_Frozen):
    """MMPose's ``final_layer`` dict of a head: the arguments of its last Conv2d.

    Args:
        type: always ``Conv2d``.
        kernel_size: kernel size. Default 1.
        stride: stride. Default 1.
        padding: zero padding. Default 0.
        bias: conv bias. Default True.
    """

    type: Literal["Conv2d"] = "Conv2d"
    kernel_size: int = 1
    stride: int = 1
    padding: int = 0
    bias: bool = True


class PretrainedInit(_Frozen):
    """MMPose's ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``.

    Args:
        type: always ``Pretrained``.
        checkpoint: a local ``.pth``/``.safetensors`` path, or an ``http(s)://`` URL (downloaded once
            to torch's hub cache).
        prefix: keep only the checkpoint keys under this prefix and strip it (e.g. ``backbone.``);
            default None.
    """

    type: Literal["Pretrained"]
    checkpoint: str
    prefix: str | None = None


_M = TypeVar("_M", bound=BaseModel)


def as_config(model: type[_M], cfg: _M | Mapping[str, Any], what: str) -> _M:
    """Validate ``cfg`` (a model or a plain mapping) into ``model``; errors name ``what``."""
    if isinstance(cfg, model):
        return cfg
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"{what} must be a mapping like {{'type': ...}}, got {type(cfg).__name__}")
    try:
        return model.model_validate(dict(cfg))
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or what}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"invalid {what} {dict(cfg)!r}: {problems}") from e
