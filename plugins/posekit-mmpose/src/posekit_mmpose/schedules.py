"""MMEngine's optimizer, parameter schedulers and hooks as posekit's ``optim`` and ``train`` fields.

posekit's schedule is a linear warmup in iterations times one main policy (step, multistep,
or cosine from an epoch to the end of the run, flat before it): MMPose's usual
``LinearLR(by_epoch=False) + MultiStepLR`` and RTMPose's ``LinearLR + CosineAnnealingLR(begin=
max_epochs // 2)`` (flat, then cosine) map onto it exactly; anything else is a problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from posekit_mmpose.sections import _problem

if TYPE_CHECKING:
    from posekit_mmpose.convert import Problem

_OPTIMIZER_KEYS = {
    "SGD": ("lr", "weight_decay", "momentum", "nesterov"),
    "Adam": ("lr", "weight_decay", "betas"),
    "AdamW": ("lr", "weight_decay", "betas"),
}


def optimizer(cfg: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """``optim.optimizer`` from ``optim_wrapper.optimizer``."""
    kind = cfg.get("type")
    if kind not in _OPTIMIZER_KEYS:
        _problem(problems, "optim", "optim_wrapper.optimizer.type", f"{kind!r}: posekit has SGD, Adam and AdamW")
        return {}
    out: dict[str, Any] = {"type": kind}
    for key, value in cfg.items():
        if key in _OPTIMIZER_KEYS[kind]:
            out[key] = list(value) if isinstance(value, tuple) else value
        elif key != "type":
            _problem(problems, "optim", f"optim_wrapper.optimizer.{key}", f"{kind} in posekit has no {key!r}")
    return out


def schedule(schedulers: Any, lr: float, max_epochs: int, problems: list[Problem]) -> dict[str, Any]:
    """``optim.scheduler`` from ``param_scheduler`` (a scheduler or a list)."""
    items = schedulers if isinstance(schedulers, list) else [schedulers]
    out: dict[str, Any] = {}
    for i, cfg in enumerate(items):
        where = f"param_scheduler[{i}]"
        kind = cfg.get("type")
        by_epoch = cfg.get("by_epoch", True)
        begin, end = cfg.get("begin", 0), cfg.get("end")
        if by_epoch and max_epochs and begin >= max_epochs:  # DWPose's stage 2: 60 epochs, its base's 270-epoch cosine
            reason = f"{kind} begins at epoch {begin}, after the run's {max_epochs} epochs: MMPose never applies it"
            _problem(problems, "optim", where, reason, fatal=False)
            continue
        if kind == "LinearLR" and not by_epoch and begin == 0 and cfg.get("end_factor", 1.0) == 1.0:
            out["warmup_iters"] = int(end or 0)
            out["warmup_ratio"] = float(cfg.get("start_factor", 1.0 / 3))
            continue
        if "policy" in out and kind != "LinearLR":
            _problem(problems, "optim", where, f"{kind}: posekit runs one main schedule after the warmup")
            continue
        if kind == "MultiStepLR" and by_epoch and begin == 0:
            out.update(policy="multistep", milestones=list(cfg.get("milestones", ())), gamma=cfg.get("gamma", 0.1))
        elif kind == "StepLR" and by_epoch and begin == 0:
            out.update(policy="step", step=cfg["step_size"], gamma=cfg.get("gamma", 0.1))
        elif kind == "ExponentialLR" and by_epoch and begin == 0 and (end is None or end >= max_epochs):
            out.update(policy="step", step=1, gamma=cfg["gamma"])  # a step of one epoch is exponential decay
        elif kind == "CosineAnnealingLR" and by_epoch and end in (None, max_epochs):
            if cfg.get("T_max", max_epochs - begin) != max_epochs - begin:
                _problem(problems, "optim", f"{where}.T_max", "posekit's cosine spans from begin to the end of the run")
            eta_min = cfg.get("eta_min_ratio")
            eta_min = eta_min if eta_min is not None else cfg.get("eta_min", 0.0) / lr
            out.update(policy="cosine", cosine_begin=int(begin), min_lr_ratio=float(eta_min))
        elif kind == "ConstantLR" and cfg.get("factor", 1.0) == 1.0:
            continue
        else:
            shown = {k: v for k, v in cfg.items() if k != "type"}
            _problem(problems, "optim", where, f"{kind}({shown}) has no posekit equivalent")
    return out


def hooks(names: Mapping[str, Any], problems: list[Problem], has_evaluator: bool) -> dict[str, Any]:
    """The ``hooks`` sections (``checkpoint``, ``logger``, ``ema``) from ``default_hooks`` and ``custom_hooks``."""
    out: dict[str, Any] = {}
    for name, cfg in (names.get("default_hooks") or {}).items():
        where = f"default_hooks.{name}"
        if cfg is None:
            continue
        kind = str(cfg.get("type", "")).rpartition(".")[2]
        if name == "checkpoint" or kind == "CheckpointHook":
            if checkpoint := _checkpoint(cfg, where, problems, has_evaluator):
                out["checkpoint"] = checkpoint
        elif name == "logger" or kind == "LoggerHook":
            if "interval" in cfg:
                out["logger"] = {"interval": cfg["interval"]}
        elif kind in ("IterTimerHook", "ParamSchedulerHook", "DistSamplerSeedHook"):
            continue  # posekit's trainer does these itself
        elif not cfg.get("enable", True):
            _problem(problems, "hooks", where, f"{kind} is disabled", fatal=False)
        else:
            _problem(problems, "hooks", where, f"{kind}: no posekit equivalent")
    for i, cfg in enumerate(names.get("custom_hooks") or []):
        where = f"custom_hooks[{i}]"
        kind = str(cfg.get("type", "")).rpartition(".")[2]
        if kind == "EMAHook":
            ema = _ema(cfg, where, problems)
            if ema:
                out["ema"] = ema
        elif kind == "PipelineSwitchHook":
            continue  # data.train.pipeline_switch (sections.pipeline_switch)
        elif kind == "SyncBuffersHook":
            note = "DistributedDataParallel broadcasts buffers from rank 0 (use train.sync_bn for SyncBN)"
            _problem(problems, "hooks", where, note, fatal=False)
        else:
            _problem(problems, "hooks", where, f"{kind}: no posekit equivalent")
    return out


def _checkpoint(cfg: Mapping[str, Any], where: str, problems: list[Problem], has_evaluator: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key == "interval":
            out["interval"] = value
        elif key == "max_keep_ckpts" and value is not None and value > 0:
            out["keep_last"] = value
        elif key == "save_best" and value is not None:
            if not isinstance(value, str) or value == "auto":
                _problem(problems, "hooks", f"{where}.save_best", f"{value!r}: posekit keeps the best of one metric")
            elif not has_evaluator:
                _problem(problems, "hooks", f"{where}.save_best", "no evaluator converted to compute it")
            else:
                out["save_best"] = value
        elif key == "rule" and value is not None:
            out["save_best_rule"] = value
        elif key not in ("type", "by_epoch", "max_keep_ckpts", "save_best"):
            _problem(problems, "hooks", f"{where}.{key}", "no posekit equivalent")
    if "save_best" not in out:
        out.pop("save_best_rule", None)
    return out


def _ema(cfg: Mapping[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    ema_type = cfg.get("ema_type", "ExponentialMovingAverage")
    if ema_type != "ExpMomentumEMA":
        _problem(problems, "hooks", f"{where}.ema_type", f"{ema_type!r}: posekit's EMA is ExpMomentumEMA")
        return {}
    out: dict[str, Any] = {"enabled": True}
    for key, value in cfg.items():
        if key in ("momentum", "gamma", "update_buffers"):
            out[key] = value
        elif key not in ("type", "ema_type", "priority"):
            _problem(problems, "hooks", f"{where}.{key}", "posekit's EMA has no such option")
    return out
