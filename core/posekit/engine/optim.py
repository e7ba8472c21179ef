"""Optimizer with per-parameter-group weight decay, and the per-iteration LR schedule.

Weight decay multipliers follow MMEngine's ``DefaultOptimWrapperConstructor``: a bias of a
non-normalisation layer gets ``weight_decay * bias_decay_mult``; every parameter of a
normalisation layer (BatchNorm, SyncBatchNorm, GroupNorm, LayerNorm, InstanceNorm) gets
``weight_decay * norm_decay_mult``. Parameters with the same decay share one group.

The schedule is a factor of the base LR evaluated every iteration: a linear warmup from
``warmup_ratio`` (MMEngine's ``LinearLR(start_factor=warmup_ratio, end=warmup_iters)``)
times the main policy (``step``/``multistep`` in epochs, ``cosine`` from epoch ``cosine_begin`` to the end of the
run in iterations, as ``CosineAnnealingLR(convert_to_iter_based=True)``), applied by :class:`IterLR`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from posekit.config.schema import OptimizerCfg, SchedulerCfg

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
)


def param_groups(model: nn.Module, cfg: OptimizerCfg) -> list[dict[str, object]]:
    """Trainable parameters of ``model`` grouped by their weight decay (module order kept).

    Args:
        model: the model (unwrapped, not DDP).
        cfg: the optimizer config (``weight_decay``, ``norm_decay_mult``, ``bias_decay_mult``).
    """
    groups: dict[float, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for module in model.modules():
        is_norm = isinstance(module, NORM_LAYERS)
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            decay = cfg.weight_decay
            if is_norm:
                decay *= cfg.norm_decay_mult
            elif name == "bias":
                decay *= cfg.bias_decay_mult
            groups.setdefault(decay, []).append(p)
    return [{"params": params, "weight_decay": decay} for decay, params in groups.items()]


def build_optimizer(model: nn.Module, cfg: OptimizerCfg) -> torch.optim.Optimizer:
    """SGD, Adam or AdamW over :func:`param_groups` of ``model``, fused (one kernel per step) where supported.

    Args:
        model: the model (unwrapped, not DDP).
        cfg: the optimizer config.
    """
    groups = param_groups(model, cfg)
    if not groups:
        raise ValueError("the model has no trainable parameters (every requires_grad is False)")
    fused = cfg.fused
    if fused is None:  # torch's fused kernels take floating-point parameters on CPU and CUDA
        params = [p for group in groups for p in group["params"]]  # type: ignore[attr-defined]
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params) or None
    if cfg.type == "SGD":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, fused=fused)
    if cfg.type == "Adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, fused=fused)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused)


def lr_factor(cfg: SchedulerCfg, iteration: int, iters_per_epoch: int, total_iters: int) -> float:
    """The LR multiplier at ``iteration`` (0-based) of a run of ``total_iters`` iterations.

    Args:
        cfg: the schedule.
        iteration: iterations done so far.
        iters_per_epoch: batches per epoch (converts epoch milestones to iterations).
        total_iters: the run's length (cosine's period).
    """
    if cfg.warmup_iters and iteration < cfg.warmup_iters:
        warm = cfg.warmup_ratio + (1.0 - cfg.warmup_ratio) * iteration / cfg.warmup_iters
    else:
        warm = 1.0
    epoch = iteration // max(iters_per_epoch, 1)
    if cfg.policy == "step":
        main = cfg.gamma ** (epoch // cfg.step)
    elif cfg.policy == "multistep":
        main = cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    elif cfg.policy == "cosine":
        begin = cfg.cosine_begin * iters_per_epoch
        t = min(max(iteration - begin, 0), total_iters - begin) / max(total_iters - begin, 1)
        main = cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
    else:
        main = 1.0
    return warm * main


class IterLR:
    """Per-iteration LR: ``lr = base_lr * factor(iteration)`` for every parameter group.

    Args:
        optimizer: the optimizer (its groups' ``lr`` at construction are the base LRs).
        factor: iteration -> multiplier.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, factor: Callable[[int], float]) -> None:
        self.optimizer = optimizer
        self.factor = factor
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        self.last_iter = 0
        self._apply()

    def _apply(self) -> None:
        f = self.factor(self.last_iter)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * f

    def step(self) -> None:
        """Advance one iteration."""
        self.last_iter += 1
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"last_iter": self.last_iter, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_iter = int(state["last_iter"])
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        self._apply()
