"""The optimizer over an ``optim_constructor``'s param groups (default: by norm and bias decay multipliers),
and the per-iteration LR schedule: MMEngine's parameter schedulers replayed as its runner steps them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from posekit.config.lr_phases import LRPhase
from posekit.config.schema import OptimizerCfg, SchedulerCfg
from posekit.errors import ConfigError

#: normalisation layers (``norm_decay_mult`` applies to their parameters)
NORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.LocalResponseNorm,
)


def param_groups(model: nn.Module, cfg: OptimizerCfg) -> list[dict[str, Any]]:
    """Trainable parameters of ``model`` (unwrapped) grouped by weight decay, module order kept: a norm
    layer's times ``norm_decay_mult``, another bias times ``bias_decay_mult`` (as MMEngine's default rules)."""
    groups: dict[float, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for module in model.modules():
        is_norm = isinstance(module, NORM_LAYERS)
        for name, param in module.named_parameters(recurse=False):
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                mult = cfg.norm_decay_mult if is_norm else cfg.bias_decay_mult if name == "bias" else 1.0
                groups.setdefault(cfg.weight_decay * mult, []).append(param)
    return [{"params": params, "lr": cfg.lr, "weight_decay": wd} for wd, params in groups.items()]


def build_optimizer(model: nn.Module, cfg: OptimizerCfg) -> torch.optim.Optimizer:
    """SGD, Adam or AdamW, fused where supported, over the param groups of ``cfg.constructor`` (an
    ``optim_constructor`` component: ``Constructor(**cfg)(model, cfg)``), else of :func:`param_groups`."""
    if cfg.constructor is not None:
        from posekit.registry import build

        groups = build("optim_constructor", dict(cfg.constructor))(model, cfg)
    else:
        groups = param_groups(model, cfg)
    if not groups:
        raise ValueError("the model has no trainable parameters (every requires_grad is False)")
    fused = cfg.fused
    if fused is None:  # torch's fused kernels take floating-point parameters on CPU and CUDA
        params = [p for group in groups for p in group["params"]]  # type: ignore[attr-defined]
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params) or None
    common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "fused": fused}  # weight decay: of groups naming none
    if cfg.type == "SGD":
        return torch.optim.SGD(groups, momentum=cfg.momentum, nesterov=cfg.nesterov, **common)
    return {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}[cfg.type](groups, betas=cfg.betas, **common)


class LRSchedule:
    """A param group's LR at every iteration, as MMEngine's runner steps its schedulers: each takes its first
    update at step 0, then iteration phases after every iteration and epoch phases after every epoch, in list
    order, each chained on the LR the previous left. Incremental; an earlier iteration replays from 0.

    Args:
        epochs: the run's epochs (the end of a phase that names none).
        total_iters: the run's iterations (the end of the short form's cosine).
    """

    def __init__(self, cfg: SchedulerCfg, iters_per_epoch: int, epochs: int, total_iters: int) -> None:
        ipe = max(iters_per_epoch, 1)
        self.iters_per_epoch = ipe
        self.phases: list[tuple[LRPhase, int, int]] = []  # (phase, begin, end) in its own steps
        for i, phase in enumerate(cfg.as_phases(ipe, total_iters)):
            end = phase.end if phase.end is not None else (epochs if phase.by_epoch else epochs * ipe)
            if phase.by_epoch and phase.convert_to_iter_based:
                phase = phase.in_iters(ipe, end)
                end = phase.end or 0
            if end <= phase.begin:
                raise ConfigError(
                    f"optim.scheduler.phases[{i}] ({phase.type}): it ends at the end of the run ({end} "
                    f"{'epochs' if phase.by_epoch else 'iterations'}), not after its begin ({phase.begin})"
                )
            self.phases.append((phase, phase.begin, end))
        self._state: dict[float, tuple[int, float]] = {}  # base LR -> (iteration, LR)

    def _update(self, lr: float, base: float, step: int, by_epoch: bool | None) -> float:
        """``lr`` after the phases of unit ``by_epoch`` (None: all) take global step ``step``."""
        for phase, begin, end in self.phases:
            if (by_epoch is None or phase.by_epoch == by_epoch) and begin <= step < end:
                lr = phase.chain(step - begin, lr, base, end - begin)
        return lr

    def __call__(self, iteration: int, base: float) -> float:
        """The LR of a param group whose initial LR is ``base`` during ``iteration`` (0-based)."""
        it, lr = self._state.get(base, (-1, base))
        if it > iteration or it < 0:
            it, lr = 0, self._update(base, base, 0, None)
        while it < iteration:
            it += 1
            lr = self._update(lr, base, it, False)
            if it % self.iters_per_epoch == 0:
                lr = self._update(lr, base, it // self.iters_per_epoch, True)
        self._state[base] = (it, lr)
        return lr


class IterLR:
    """Sets every param group's ``lr`` from its base LR (its ``lr`` at construction) by ``schedule``
    (``(iteration, base LR) -> LR``) each iteration; after :meth:`set_epoch_length`, iterations are mapped
    to the schedule's epochs of ``iters_per_epoch``."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, schedule: Callable[[int, float], float], iters_per_epoch: int = 1
    ) -> None:
        self.optimizer = optimizer
        self.schedule = schedule
        self.base_lrs = [float(g["lr"]) for g in optimizer.param_groups]
        self.last_iter = 0
        self.iters_per_epoch = max(iters_per_epoch, 1)
        # (first iteration, its epoch, iterations per epoch) of each change of the epoch length
        self.epoch_lengths: list[tuple[int, int, int]] = []
        self._apply()

    def set_epoch_length(self, first_iter: int, epoch: int, iters_per_epoch: int) -> None:
        """From iteration ``first_iter``, the start of ``epoch`` (0-based), epochs have ``iters_per_epoch``
        iterations (changes from that epoch on, set before, are replaced)."""
        kept = [c for c in self.epoch_lengths if c[1] < epoch]
        self.epoch_lengths = [*kept, (first_iter, epoch, max(iters_per_epoch, 1))]
        self._apply()

    def position(self, iteration: int) -> int:
        """``iteration`` counted in the schedule's epochs: the same epoch, the same fraction of it."""
        for first, epoch, length in reversed(self.epoch_lengths):
            if iteration >= first:
                done, within = divmod(iteration - first, length)
                return (epoch + done) * self.iters_per_epoch + within * self.iters_per_epoch // length
        return iteration

    def _apply(self) -> None:
        at = self.position(self.last_iter)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.schedule(at, base)

    def step(self) -> None:
        """Advance one iteration."""
        self.last_iter += 1
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        lengths = [list(c) for c in self.epoch_lengths]
        return {"last_iter": self.last_iter, "base_lrs": list(self.base_lrs), "epoch_lengths": lengths}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_iter = int(state["last_iter"])
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        self.epoch_lengths = [(int(a), int(b), int(c)) for a, b, c in state.get("epoch_lengths", ())]
        self._apply()
