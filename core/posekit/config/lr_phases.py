"""The phases of ``optim.scheduler.phases`` (kind ``lr_phase``): MMEngine's LR schedulers with their arguments
and defaults, active on steps ``[begin, end)``; ``chain`` is MMEngine's chainable update. The core registers
those its short form uses; posekit-mmpose the rest MMPose configs name."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LRPhase(BaseModel):
    """A phase's span of steps ``[begin, end)`` (epochs when ``by_epoch``, else iterations; ``end`` None: the
    run's end); ``convert_to_iter_based``: an epoch phase updated every iteration, as MMEngine's. A subclass
    declares ``type: Literal[Name] = Name``, its registered name."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    begin: int = Field(0, ge=0)
    end: int | None = Field(None, gt=0)
    by_epoch: bool = True
    convert_to_iter_based: bool = False

    @model_validator(mode="after")
    def _check_span(self) -> LRPhase:
        if self.end is not None and self.end <= self.begin:
            kind = getattr(self, "type", "phase")
            raise ValueError(f"{kind}: end ({self.end}) must be larger than begin ({self.begin})")
        return self

    def _epoch_counts(self, epoch_length: int) -> dict[str, Any]:
        """The phase's own arguments counted in epochs, in iterations (MMEngine's ``build_iter_from_epoch``)."""
        return {}

    def in_iters(self, epoch_length: int, end: int) -> LRPhase:
        """This phase updated every iteration; ``end`` (epochs) replaces a missing one."""
        update = {"begin": self.begin * epoch_length, "end": end * epoch_length, "by_epoch": False}
        return self.model_copy(update={**update, **self._epoch_counts(epoch_length), "convert_to_iter_based": False})

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        """The LR after update ``step`` (0-based) of a phase of ``span`` steps, from ``lr``; ``base``: initial LR."""
        raise NotImplementedError


class LinearLR(LRPhase):
    """LR times a factor going linearly from ``start_factor`` to ``end_factor``, reached at step ``end - 1``."""

    type: Literal["LinearLR"] = "LinearLR"
    start_factor: float = Field(1.0 / 3, gt=0, le=1)
    end_factor: float = Field(1.0, ge=0, le=1)

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        if step == 0:
            return lr * self.start_factor
        delta = self.end_factor - self.start_factor
        return lr * (1.0 + delta / ((span - 1) * self.start_factor + (step - 1) * delta))


class StepLR(LRPhase):
    """LR times ``gamma`` every ``step_size`` steps."""

    type: Literal["StepLR"] = "StepLR"
    example_config: ClassVar[dict[str, Any]] = {"step_size": 2}
    step_size: int = Field(ge=1)
    gamma: float = Field(0.1, ge=0)

    def _epoch_counts(self, epoch_length: int) -> dict[str, Any]:
        return {"step_size": self.step_size * epoch_length}

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        return lr * self.gamma if step and step % self.step_size == 0 else lr


class MultiStepLR(LRPhase):
    """LR times ``gamma`` at each milestone (steps counted from ``begin``; a repeated one decays twice)."""

    type: Literal["MultiStepLR"] = "MultiStepLR"
    example_config: ClassVar[dict[str, Any]] = {"milestones": (2, 4)}
    milestones: tuple[int, ...]
    gamma: float = Field(0.1, ge=0)

    def _epoch_counts(self, epoch_length: int) -> dict[str, Any]:
        return {"milestones": tuple(m * epoch_length for m in self.milestones)}

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        return lr * self.gamma ** Counter(self.milestones)[step]


class CosineAnnealingLR(LRPhase):
    """Cosine from the LR at ``begin`` down to ``eta_min`` (absolute) or ``eta_min_ratio`` (of each group's
    initial LR) over ``T_max`` steps (default: the span)."""

    type: Literal["CosineAnnealingLR"] = "CosineAnnealingLR"
    T_max: int | None = Field(None, ge=1)
    eta_min: float | None = Field(None, ge=0)
    eta_min_ratio: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_floor(self) -> CosineAnnealingLR:
        if self.eta_min is not None and self.eta_min_ratio is not None:
            raise ValueError("CosineAnnealingLR: give eta_min or eta_min_ratio, not both")
        return self

    def _epoch_counts(self, epoch_length: int) -> dict[str, Any]:
        return {} if self.T_max is None else {"T_max": self.T_max * epoch_length}

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        eta = base * self.eta_min_ratio if self.eta_min_ratio is not None else (self.eta_min or 0.0)
        t_max = self.T_max or span
        if step == 0:
            return lr
        if (step - 1 - t_max) % (2 * t_max) == 0:
            return lr + (base - eta) * (1.0 - math.cos(math.pi / t_max)) / 2
        ratio = (1.0 + math.cos(math.pi * step / t_max)) / (1.0 + math.cos(math.pi * (step - 1) / t_max))
        return ratio * (lr - eta) + eta


def as_phase(cfg: Any) -> LRPhase:
    """A phase config ``{"type": Name, ...}`` validated by the phase model registered as ``Name`` (kind
    ``lr_phase``: the core's LinearLR, StepLR, MultiStepLR and CosineAnnealingLR, and plugins')."""
    from posekit.errors import UnknownComponentError
    from posekit.registry import get

    if isinstance(cfg, LRPhase):
        return cfg
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise ValueError(f"a phase is a mapping with a 'type' (an lr_phase; `posekit plugins` lists them), got {cfg!r}")
    try:
        model = get("lr_phase", str(cfg["type"]))
    except UnknownComponentError as e:
        raise ValueError(str(e)) from None
    return model.model_validate(dict(cfg))
