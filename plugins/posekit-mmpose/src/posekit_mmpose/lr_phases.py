"""The LR phases MMPose configs name beyond the core's (kind ``lr_phase``): MMPose's own ``QuadraticWarmupLR``
and ``ConstantLR``, MMEngine's ``ExponentialLR`` and ``PolyLR``, each as :class:`posekit.config.lr_phases.LRPhase`."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from posekit.config.lr_phases import LRPhase


class QuadraticWarmupLR(LRPhase):
    """LR rising as ``base * ((step + 1) / span) ** 2`` (MMDetection's YOLOX warmup)."""

    type: Literal["QuadraticWarmupLR"] = "QuadraticWarmupLR"

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        rise = base * (2 * step + 1) / span**2
        return rise if step == 0 else lr + rise


class ConstantLR(LRPhase):
    """LR times ``factor`` from the first step; divided back at the span's last step (MMPose's: any factor)."""

    type: Literal["ConstantLR"] = "ConstantLR"
    factor: float = Field(1.0 / 3, gt=0)

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        if step == 0:
            return lr * self.factor
        return lr / self.factor if step == span - 1 else lr


class ExponentialLR(LRPhase):
    """LR times ``gamma`` every step."""

    type: Literal["ExponentialLR"] = "ExponentialLR"
    example_config: ClassVar[dict[str, Any]] = {"gamma": 0.9}
    gamma: float = Field(ge=0)

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        return lr * self.gamma if step else lr


class PolyLR(LRPhase):
    """Polynomial decay of power ``power`` to ``eta_min`` (absolute) at the span's last step."""

    type: Literal["PolyLR"] = "PolyLR"
    eta_min: float = Field(0.0, ge=0)
    power: float = Field(1.0, gt=0)

    def chain(self, step: int, lr: float, base: float, span: int) -> float:
        if step == 0:
            return lr
        return (lr - self.eta_min) * (1.0 - 1.0 / (span - step)) ** self.power + self.eta_min
