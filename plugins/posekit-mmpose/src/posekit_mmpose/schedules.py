"""MMEngine's optimizer, parameter schedulers and hooks as posekit's ``optim`` and ``train`` fields.

posekit's schedule lists MMEngine's LR schedulers as phases (``optim.scheduler.phases``) with
their arguments unchanged, replayed as MMEngine steps them: each ``param_scheduler`` entry
becomes one phase.
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


def param_groups(wrapper: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """``optim.optimizer``'s grouping from ``optim_wrapper.constructor`` and ``paramwise_cfg``.

    Only norm/bias decay multipliers with the default constructor: ``norm_decay_mult`` and
    ``bias_decay_mult`` (``bypass_duplicate`` dropped: posekit puts a shared parameter in one
    group); anything else: ``constructor``, the ``optim_constructor`` component
    registered under the constructor's name, taking the ``paramwise_cfg`` keys as arguments.
    """
    from posekit.errors import PosekitError
    from posekit.registry import resolve, validate

    paramwise = dict(wrapper.get("paramwise_cfg") or {})
    kind = str(wrapper.get("constructor") or "DefaultOptimWrapperConstructor").rpartition(".")[2]
    simple = {k: v for k, v in paramwise.items() if k != "bypass_duplicate"}  # posekit never duplicates
    if kind == "DefaultOptimWrapperConstructor" and set(simple) <= {"norm_decay_mult", "bias_decay_mult"}:
        return simple
    constructor = {"type": kind, **paramwise}
    where = "optim_wrapper.constructor"
    try:
        resolve("optim_constructor", kind)
    except PosekitError:
        reason = f"posekit has no optim_constructor {kind!r}"
        _problem(problems, "optim", where, reason, component=f"optim_constructor {kind}")
        return {}
    try:
        validate("optim_constructor", constructor, where)
    except PosekitError as e:
        _problem(problems, "optim", where, " ".join(str(e).split())[:400])
        return {}
    return {"constructor": constructor}


def schedule(schedulers: Any, problems: list[Problem]) -> dict[str, Any]:
    """``optim.scheduler.phases`` from ``param_scheduler`` (a scheduler or a list), one phase each."""
    from pydantic import ValidationError

    from posekit.config.schema import SchedulerCfg
    from posekit.registry import get, list_components

    phase_types = {n: tuple(get("lr_phase", n).model_fields) for n in list_components("lr_phase")["lr_phase"]}

    items = schedulers if isinstance(schedulers, list) else [schedulers]
    phases = []
    for i, cfg in enumerate(items):
        where = f"param_scheduler[{i}]"
        kind = str(cfg.get("type", "")).rpartition(".")[2]
        if kind not in phase_types:
            known = ", ".join(phase_types)
            _problem(problems, "optim", f"{where}.type", f"{kind!r}: posekit's LR phases are {known}")
            continue
        phase: dict[str, Any] = {"type": kind}
        for key, value in cfg.items():
            if key != "type" and key in phase_types[kind]:
                phase[key] = list(value) if isinstance(value, tuple) else value
            elif key == "verbose":
                _problem(problems, "optim", f"{where}.{key}", "posekit logs the LR every logged iteration", fatal=False)
            elif key != "type":
                _problem(problems, "optim", f"{where}.{key}", f"{kind} has no {key!r}")
        try:
            SchedulerCfg(phases=[phase])
        except ValidationError as e:
            _problem(problems, "optim", where, f"does not validate: {e.errors()[0]['msg']}")
            continue
        phases.append(phase)
    return {"phases": phases} if phases else {}


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
        elif kind in ("SyncBuffersHook", "SyncNormHook"):
            note = "DistributedDataParallel broadcasts buffers from rank 0 (use train.sync_bn for SyncBN)"
            _problem(problems, "hooks", where, note, fatal=False)
        elif kind in _MODE_SWITCHES:
            if section := _mode_switch(kind, cfg, where, problems):
                out[_MODE_SWITCHES[kind]] = section
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
        elif key == "strict_load":
            note = "posekit resumes without EMA weights when a checkpoint has none"
            _problem(problems, "hooks", f"{where}.{key}", note, fatal=False)
        elif key not in ("type", "ema_type", "priority"):
            _problem(problems, "hooks", f"{where}.{key}", "posekit's EMA has no such option")
    return out


#: MMPose's training-mode switches -> the posekit hooks (posekit-yolox-train) that do them
_MODE_SWITCHES = {"YOLOXPoseModeSwitchHook": "yoloxpose_mode_switch", "RTMOModeSwitchHook": "rtmo_mode_switch"}


def _mode_switch(kind: str, cfg: Mapping[str, Any], where: str, problems: list[Problem]) -> dict[str, Any]:
    """``hooks.yoloxpose_mode_switch`` / ``hooks.rtmo_mode_switch`` from MMPose's hook of that kind."""
    from posekit.plugins import hook_names
    from posekit_mmpose.convert import clean
    from posekit_mmpose.sections import _missing

    name = _MODE_SWITCHES[kind]
    if name not in hook_names():
        reason = f"{kind}: posekit has no hook {name!r} (posekit-yolox-train provides it)"
        _problem(problems, "hooks", where, reason, component=f"hook {name}")
        return {}
    out: dict[str, Any] = {"enabled": True} if kind == "YOLOXPoseModeSwitchHook" else {}
    for key, value in cfg.items():
        if key in ("num_last_epochs", "epoch_attributes"):
            out[key] = clean(value)
        elif key == "new_train_pipeline" and value is not None:
            pipeline = clean(value)
            found = [_missing("transform", t, f"{where}.{key}[{i}]", problems) for i, t in enumerate(pipeline)]
            if any(found):
                return {}
            out[key] = pipeline
        elif key == "new_train_dataset" and value is not None:
            dataset = clean(value)
            if _missing("dataset", dataset, f"{where}.{key}", problems):
                return {}
            out[key] = dataset
        elif key not in ("type", "priority", "new_train_pipeline", "new_train_dataset"):
            _problem(problems, "hooks", f"{where}.{key}", f"{kind} has no {key!r}")
    return out
