"""The phases of ``optim.scheduler.phases``: MMEngine's LR schedulers MMPose configs name, with their
arguments and defaults, active on steps ``[begin, end)``; ``chain`` is MMEngine's chainable update."""

from __future__ import annotations

import math
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Phase(BaseModel):
    """A phase's span of steps ``[begin, end)`` (epochs when ``by_epoch``, else iterations; ``end`` None: the
    run's end); ``convert_to_iter_based``: an epoch phase updated every iteration, as MMEngine's."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    begin: int = Field(0, ge=0)
    end: int | None = Field(None, gt=0)
    by_epoch: bool = True
    convert_to_iter_based: bool = False

    @model_validator(mode="after")
    def _check_span(self) -> _Phase:
        if self.end is not None and self.end <= self.begin:
            kind = getattr(self, "type", "phase")
            raise ValueError(f"{kind}: end ({self.end}) must be larger than begin ({self.begin})")
        return self

    def _epoch_counts(self, epoch_length: int) -> dict[str, Any]:
        """The phase's own arguments counted in epochs, in iterations (MMEngine's ``build_iter_from_epoch``)."""
        return {}

    def in_iters(self, epoch_length: int, end: int) -> _Phase:
        """This phase updated every iteration; ``end`` (epochs) replaces a missing one."""
        update = {"begin": self.begin * epoch_length, "end": end * epoch_length, "by_epoch": False}
        return self.model_copy(update={**update, **self._epoch_counts(epoch_length), "convert_to_iter_based": False})

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        """The LR after update ``step`` (0-based) of a phase of ``span`` steps, from ``lr``; ``base``: initial LR."""
        raise NotImplementedError


class LinearLR(_Phase):
    """LR times a factor going linearly from ``start_factor`` to ``end_factor``, reached at step ``end - 1``."""

    type: Literal["LinearLR"]
    start_factor: float = Field(1.0 / 3, gt=0, le=1)
    end_factor: float = Field(1.0, ge=0, le=1)

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        if step == 0:
            return lr * self.start_factor
        delta = self.end_factor - self.start_factor
        return lr * (1.0 + delta / ((span - 1) * self.start_factor + (step - 1) * delta))


class QuadraticWarmupLR(_Phase):
    """LR rising as ``base * ((step + 1) / span) ** 2`` (MMDetection's YOLOX warmup)."""

    type: Literal["QuadraticWarmupLR"]

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        rise = base * (2 * step + 1) / span**2
        return rise if step == 0 else lr + rise


class ConstantLR(_Phase):
    """LR times ``factor`` from the first step; divided back at the span's last step (MMPose's: any factor)."""

    type: Literal["ConstantLR"]
    factor: float = Field(1.0 / 3, gt=0)

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        if step == 0:
            return lr * self.factor
        return lr / self.factor if step == span - 1 else lr


class StepLR(_Phase):
    """LR times ``gamma`` every ``step_size`` steps."""

    type: Literal["StepLR"]
    step_size: int = Field(ge=1)
    gamma: float = Field(0.1, ge=0)

    def _epoch_counts(self, epoch_length: int) -> dict[str, Any]:
        return {"step_size": self.step_size * epoch_length}

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        return lr * self.gamma if step and step % self.step_size == 0 else lr


class MultiStepLR(_Phase):
    """LR times ``gamma`` at each milestone (steps counted from ``begin``; a repeated one decays twice)."""

    type: Literal["MultiStepLR"]
    milestones: tuple[int, ...]
    gamma: float = Field(0.1, ge=0)

    def _epoch_counts(self, epoch_length: int) -> dict[str, Any]:
        return {"milestones": tuple(m * epoch_length for m in self.milestones)}

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        return lr * self.gamma ** Counter(self.milestones)[step]


class ExponentialLR(_Phase):
    """LR times ``gamma`` every step."""

    type: Literal["ExponentialLR"]
    gamma: float = Field(ge=0)

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        return lr * self.gamma if step else lr


class CosineAnnealingLR(_Phase):
    """Cosine from the LR at ``begin`` down to ``eta_min`` (absolute) or ``eta_min_ratio`` (of each group's
    initial LR) over ``T_max`` steps (default: the span)."""

    type: Literal["CosineAnnealingLR"]
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


class PolyLR(_Phase):
    """Polynomial decay of power ``power`` to ``eta_min`` (absolute) at the span's last step."""

    type: Literal["PolyLR"]
    eta_min: float = Field(0.0, ge=0)
    power: float = Field(1.0, gt=0)

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        if step == 0:
            return lr
        return (lr - self.eta_min) * (1.0 - 1.0 / (span - step)) ** self.power + self.eta_min


_PHASES = (LinearLR, QuadraticWarmupLR, ConstantLR, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, PolyLR)
LRPhase = Annotated[
    LinearLR | QuadraticWarmupLR | ConstantLR | StepLR | MultiStepLR | ExponentialLR | CosineAnnealingLR | PolyLR,
    Field(discriminator="type"),
]
#: the phase types by name, with the arguments each takes
PHASE_TYPES: dict[str, tuple[str, ...]] = {
    cls.__name__: tuple(f for f in cls.model_fields if f != "type") for cls in _PHASES
}
