"""MMPose's ``ExpMomentumEMA``: ``avg.lerp(src, m)`` after each step, ``m = (1 - momentum) * exp(-(1 + steps) /
gamma) + momentum``; the first update copies. Without ``update_buffers`` buffers are copied (MMEngine's)."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn


class ExpMomentumEMA(nn.Module):
    """An averaged copy of ``model``; ``module`` holds the averaged weights.

    Args:
        model: the model to average (unwrapped, not DDP).
        gamma: the momentum warmup length, in updates.
    """

    def __init__(self, model: nn.Module, momentum: float = 0.0002, gamma: int = 2000, update_buffers: bool = False):
        super().__init__()
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"ExpMomentumEMA: momentum must be in (0, 1), got {momentum}")
        if gamma <= 0:
            raise ValueError(f"ExpMomentumEMA: gamma must be positive, got {gamma}")
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.momentum = momentum
        self.gamma = gamma
        self.update_buffers = update_buffers
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))

    def _averaged(self, model: nn.Module) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        if self.update_buffers:
            return self.module.state_dict(), model.state_dict()
        return dict(self.module.named_parameters()), dict(model.named_parameters())

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average."""
        avg, src = self._averaged(model)
        steps = int(self.steps)
        if steps == 0:
            for k, a in avg.items():
                a.copy_(src[k])
        else:
            m = (1.0 - self.momentum) * math.exp(-float(1 + steps) / self.gamma) + self.momentum
            for k, a in avg.items():
                if a.dtype.is_floating_point:
                    a.lerp_(src[k].to(a.device), m)
        if not self.update_buffers:
            for a, s in zip(self.module.buffers(), model.buffers(), strict=True):
                a.copy_(s.to(a.device))
        self.steps += 1

    @torch.no_grad()
    def swap(self, model: nn.Module) -> None:
        """Exchange the averaged parameters (and buffers when averaged) with ``model``'s, in place."""
        avg, src = self._averaged(model)
        for k, a in avg.items():
            tmp = a.detach().clone()
            a.copy_(src[k])
            src[k].copy_(tmp)
