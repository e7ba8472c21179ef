"""Typed layer configs: MMPose's ``norm_cfg``, ``act_cfg`` and ``init_cfg`` dicts as pydantic models.

A Python caller may pass the plain dict; the registry and the builders validate it the same way.
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

    ``type``: ``BN`` (``BN1d``/``BN3d`` for other ranks), ``SyncBN`` (BatchNorm2d unless
    torch.distributed runs more than one process), ``GN`` (needs ``num_groups``), ``LN`` (over the
    last dim), ``IN``. ``momentum``/``eps`` None take torch's defaults.
    """

    type: NormType
    requires_grad: bool = True
    momentum: float | None = None
    eps: float | None = None
    num_groups: int | None = None
    affine: bool = True


class ActConfig(_Frozen):
    """An activation layer, as mmcv's ``build_activation_layer`` reads it.

    ``Swish`` is SiLU; ``HSigmoid`` is ``clamp((x + bias) / divisor, 0, 1)`` (default 3.0 and 6.0);
    ``inplace`` None leaves it to the caller.
    """

    type: ActType
    inplace: bool | None = None
    negative_slope: float | None = None
    bias: float | None = None
    divisor: float | None = None


class FinalLayerConfig(_Frozen):
    """MMPose's ``final_layer`` dict of a head: the arguments of its last Conv2d."""

    type: Literal["Conv2d"] = "Conv2d"
    kernel_size: int = 1
    stride: int = 1
    padding: int = 0
    bias: bool = True


class PretrainedInit(_Frozen):
    """MMPose's ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``: a local file or an http(s) URL."""

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
