"""One function per experiment section: MMPose's runner settings as posekit's schema.

Each function reads the config's top-level names and appends a
:class:`~posekit_mmpose.convert.Problem` for what it cannot express (``fatal``) or drops as
irrelevant to posekit (a note).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from posekit.errors import PosekitError

if TYPE_CHECKING:
    from posekit_mmpose.convert import Problem

#: MMEngine runner settings posekit has no use for (its own defaults cover them)
_RUNNER_ONLY = {
    "default_scope": "posekit has no registry scopes",
    "env_cfg": "posekit sets its own process environment",
    "vis_backends": "posekit logs JSON lines (and TensorBoard when installed)",
    "visualizer": "posekit draws with `posekit infer`",
    "log_processor": "posekit logs every hooks.logger.interval iterations",
    "log_level": "posekit's log level is fixed",
    "backend_args": "posekit reads local files",
    "launcher": "posekit runs under torchrun when launched by it",
    "val_cfg": "posekit validates with the model's test_cfg",
    "test_cfg": "posekit tests with the model's test_cfg",
}
_SPLITS = ("train", "val", "test")


def _problem(
    problems: list[Problem], section: str, path: str, reason: str, fatal: bool = True, component: str | None = None
) -> None:
    from posekit_mmpose.convert import Problem

    problems.append(Problem(section, path, reason, fatal, component))


def _missing(kind: str, cfg: Any, where: str, problems: list[Problem]) -> bool:
    """Report ``cfg``'s component (and a dataset's pipeline and sub-datasets, a transform's nested steps)
    when not installed."""
    from posekit.registry import resolve

    if not isinstance(cfg, Mapping) or "type" not in cfg:
        return False
    found = False
    try:
        resolve(kind, str(cfg["type"]))
    except PosekitError:
        reason = f"posekit has no {kind} {cfg['type']!r}"
        _problem(problems, "data", where, reason, component=f"{kind} {cfg['type']}")
        found = True
    if kind == "dataset" and isinstance(cfg.get("metainfo"), str) and not _definition_known(cfg["metainfo"]):
        reason = f"posekit has no keypoint definition {cfg['metainfo']!r}"
        _problem(problems, "data", f"{where}.metainfo", reason, component=f"metainfo {cfg['metainfo']}")
        found = True
    if kind == "dataset":
        for i, step in enumerate(cfg.get("pipeline") or []):
            found = _missing("transform", step, f"{where}.pipeline[{i}]", problems) or found
        for i, sub in enumerate(cfg.get("datasets") or []):
            found = _missing("dataset", sub, f"{where}.datasets[{i}]", problems) or found
    if kind == "transform":  # nested pipelines: RandomChoice's lists of steps, Mosaic's pre_transform
        nested = [(f"transforms[{i}]", s) for i, s in enumerate(_steps(cfg.get("transforms"))) if isinstance(s, list)]
        for name, steps in [*nested, ("pre_transform", _steps(cfg.get("pre_transform")))]:
            for j, step in enumerate(steps):
                found = _missing("transform", step, f"{where}.{name}[{j}]", problems) or found
    return found


def _steps(value: Any) -> list[Any]:
    """``value`` when it is a list of pipeline steps, else no steps."""
    return value if isinstance(value, list) else []


def _errors(e: Exception) -> str:
    """One line of a validation failure (pydantic's or posekit's)."""
    errors = getattr(e, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(str(x) for x in err['loc'])}: {err['msg'].removeprefix('Value error, ')}" for err in errors()
        )[:600]
    return " ".join(str(e).split())[:600]


def _validates(model: Any, cfg: Mapping[str, Any], section: str, where: str, problems: list[Problem]) -> bool:
    """Whether ``cfg`` validates against the pydantic ``model``; a problem when it does not."""
    from pydantic import ValidationError

    try:
        model.model_validate(cfg)
    except (ValidationError, PosekitError) as e:
        _problem(problems, section, where, f"does not validate: {_errors(e)}")
        return False
    return True


def _definition_known(name: str) -> bool:
    from posekit.registry import resolve

    try:
        resolve("metainfo", name)
    except PosekitError:
        return False
    return True


def data(names: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """``data.train/val/test`` from ``{split}_dataloader``; a split that does not validate is left out."""

    from posekit.config import DataSplit
    from posekit_mmpose.convert import clean

    out: dict[str, Any] = {}
    for split in _SPLITS:
        loader = names.get(f"{split}_dataloader")
        if not isinstance(loader, Mapping):
            continue
        where = f"{split}_dataloader"
        cfg: dict[str, Any] = {}
        loader = clean(loader)
        _local_files(loader, where, problems)
        for key, value in loader.items():
            if key in ("batch_size", "num_workers", "persistent_workers", "drop_last", "dataset"):
                cfg[key] = value
            elif key == "sampler":
                _sampler(value, cfg, f"{where}.sampler", problems)
            elif key in ("pin_memory", "prefetch_factor"):
                _problem(problems, "data", f"{where}.{key}", "posekit's loader chooses this itself", fatal=False)
            else:
                _problem(problems, "data", f"{where}.{key}", "no posekit equivalent")
        if cfg.get("num_workers") == 0:
            cfg["persistent_workers"] = False
        if _missing("dataset", cfg.get("dataset"), f"{where}.dataset", problems):
            continue
        if _validates(DataSplit, cfg, "data", where, problems):
            out[split] = cfg
    return out


def _local_files(node: Any, where: str, problems: list[Problem]) -> None:
    """Drop, in place, every ``backend_args`` of a remote file backend (OpenMMLab's ``petrel`` object storage)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _local_files(item, f"{where}[{i}]", problems)
    if not isinstance(node, dict):
        return
    args = node.get("backend_args")
    if isinstance(args, Mapping) and args.get("backend", "local") != "local":
        del node["backend_args"]
        reason = f"file backend {args['backend']!r} left out: posekit reads local files (under data_root)"
        _problem(problems, "data", f"{where}.backend_args", reason, fatal=False)
    for key, item in node.items():
        _local_files(item, f"{where}.{key}", problems)


def _sampler(sampler: Any, cfg: dict[str, Any], where: str, problems: list[Problem]) -> None:
    if not isinstance(sampler, Mapping) or sampler.get("type") != "DefaultSampler":
        kind = sampler.get("type") if isinstance(sampler, Mapping) else sampler
        _problem(problems, "data", where, f"sampler {kind!r}: posekit has DefaultSampler's shuffle only")
        return
    cfg["shuffle"] = bool(sampler.get("shuffle", True))
    for key in sampler:
        if key == "round_up":
            note = "posekit evaluates every sample once"
            _problem(problems, "data", f"{where}.round_up", note, fatal=False)
        elif key not in ("type", "shuffle"):
            _problem(problems, "data", f"{where}.{key}", "no posekit equivalent")


def evaluator(names: Mapping[str, Any], problems: list[Problem]) -> list[dict[str, Any]]:
    """``evaluator`` from ``val_evaluator`` (a metric or a list); a metric that does not validate is left out."""
    from posekit.registry import validate
    from posekit_mmpose.convert import clean

    metrics = clean(names.get("val_evaluator") or [])
    metrics = metrics if isinstance(metrics, list) else [metrics]
    out = []
    for i, metric in enumerate(metrics):
        where = f"val_evaluator[{i}]" if len(metrics) > 1 else "val_evaluator"
        if _missing("metric", metric, where, problems):
            continue
        try:
            validate("metric", metric, where)
        except PosekitError as e:
            _problem(problems, "evaluator", where, _errors(e))
            continue
        out.append(metric)
    test = clean(names.get("test_evaluator") or [])
    if test and test != clean(names.get("val_evaluator") or []):
        _problem(problems, "evaluator", "test_evaluator", "posekit tests with the val evaluator", fatal=False)
    return out


def optim(names: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """``optim`` from ``optim_wrapper`` and ``param_scheduler``."""
    from posekit_mmpose.schedules import optimizer, param_groups, schedule

    out: dict[str, Any] = {}
    wrapper = names.get("optim_wrapper") or {}
    for key, value in wrapper.items():
        where = f"optim_wrapper.{key}"
        if key == "type":
            if value == "AmpOptimWrapper":
                out["amp"] = True
            elif value != "OptimWrapper":
                _problem(problems, "optim", where, f"{value!r}: posekit has OptimWrapper and AmpOptimWrapper")
        elif key == "optimizer":
            out["optimizer"] = optimizer(value, problems)
        elif key in ("paramwise_cfg", "constructor"):
            continue  # param_groups() below
        elif key == "clip_grad" and value is not None:
            if value.get("norm_type", 2) != 2 or set(value) - {"max_norm", "norm_type"}:
                _problem(problems, "optim", where, "posekit clips the L2 norm only (max_norm)")
            else:
                out["clip_grad"] = value["max_norm"]
        elif key == "accumulative_counts":
            out["accumulate"] = value
        elif key in ("loss_scale", "dtype") and wrapper.get("type") == "AmpOptimWrapper":
            _problem(problems, "optim", where, "posekit's AMP scales losses dynamically", fatal=False)
        else:
            _problem(problems, "optim", where, "no posekit equivalent")
    if grouping := param_groups(wrapper, problems):
        out.setdefault("optimizer", {}).update(grouping)
    out["scheduler"] = schedule(names.get("param_scheduler") or [], problems)
    return out


def train(names: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """``train`` from ``train_cfg``, ``randomness``, ``find_unused_parameters`` and ``load_from``."""
    out: dict[str, Any] = {}
    for key, value in (names.get("train_cfg") or {}).items():
        if key == "max_epochs":
            out["epochs"] = value
        elif key == "val_interval":
            out["val_interval"] = value
        elif key == "dynamic_intervals":
            out["dynamic_intervals"] = [list(pair) for pair in value]
        elif (key == "by_epoch" and value) or (key == "type" and value == "EpochBasedTrainLoop"):
            continue
        else:
            _problem(problems, "train", f"train_cfg.{key}", "posekit trains by epochs with a fixed val_interval")
    randomness = names.get("randomness") or {}
    for key, value in randomness.items():
        if key == "seed" and value is not None:
            out["seed"] = value
        elif key == "deterministic":
            out["deterministic"] = bool(value)
        elif key != "seed":
            _problem(problems, "train", f"randomness.{key}", "no posekit equivalent")
    if names.get("find_unused_parameters"):
        out["find_unused_parameters"] = True
    if names.get("load_from"):
        out["load_from"] = str(names["load_from"])
    return out


def pipeline_switch(names: Mapping[str, Any], data: dict[str, Any], problems: list[Problem]) -> None:
    """``data.train.pipeline_switch`` from ``custom_hooks``' ``PipelineSwitchHook`` (RTMPose's stage 2)."""

    from posekit.config.schema import PipelineSwitch
    from posekit_mmpose.convert import clean

    for i, cfg in enumerate(names.get("custom_hooks") or []):
        if str(cfg.get("type", "")).rpartition(".")[2] != "PipelineSwitchHook":
            continue
        where = f"custom_hooks[{i}]"
        switch = clean({"epoch": cfg.get("switch_epoch"), "pipeline": cfg.get("switch_pipeline") or []})
        _local_files(switch["pipeline"], f"{where}.switch_pipeline", problems)
        if "train" not in data:
            _problem(problems, "hooks", where, "PipelineSwitchHook: the train data did not convert, nothing to switch")
            continue
        missing = [
            _missing("transform", step, f"{where}.switch_pipeline[{j}]", problems)
            for j, step in enumerate(switch["pipeline"])
        ]
        if any(missing):
            continue
        if _validates(PipelineSwitch, switch, "hooks", where, problems):
            data["train"]["pipeline_switch"] = switch


def metainfo(model: Mapping[str, Any], names: Mapping[str, Any], problems: list[Problem]) -> str | None:
    """The experiment's keypoint definition: the model's, a dataset's ``metainfo``, or its type's default.

    No default otherwise: the missing definition is a problem.
    """
    from posekit.metainfo.consistency import dataset_default_metainfo
    from posekit_mmpose.convert import clean

    if isinstance(model.get("metainfo"), str):
        if _definition_known(model["metainfo"]):
            return str(model["metainfo"])
        reason = f"posekit has no keypoint definition {model['metainfo']!r}"
        _problem(problems, "metainfo", "model.metainfo", reason, component=f"metainfo {model['metainfo']}")
        return None
    datasets = []
    for split in _SPLITS:
        loader = names.get(f"{split}_dataloader")
        if isinstance(loader, Mapping) and isinstance(loader.get("dataset"), Mapping):
            datasets.append(clean(loader["dataset"]))
    named = [str(d["metainfo"]) for d in datasets if isinstance(d.get("metainfo"), str)]
    if named:  # the first definition a dataset names, or none: never another dataset's
        if _definition_known(named[0]):
            return named[0]
        reason = f"posekit has no keypoint definition {named[0]!r}"
        _problem(problems, "metainfo", "metainfo", reason, component=f"metainfo {named[0]}")
        return None
    for dataset in datasets:
        name = dataset_default_metainfo(dataset)
        if name is not None:
            return name
    kinds = ", ".join(sorted({str(d.get("type")) for d in datasets})) or "none"
    _problem(
        problems,
        "metainfo",
        "metainfo",
        f"no keypoint definition: the model and datasets name none, and no installed dataset type ({kinds}) "
        "declares one; add metainfo: NAME (`posekit plugins` lists the definitions)",
    )
    return None


def ignored(names: Mapping[str, Any], problems: list[Problem]) -> None:
    """Notes for MMEngine runner settings posekit does without; problems for those it cannot."""
    for key, reason in _RUNNER_ONLY.items():
        if key in names:
            _problem(problems, "runtime", key, reason, fatal=False)
    if names.get("auto_scale_lr"):
        base = names["auto_scale_lr"].get("base_batch_size")
        note = f"posekit does not rescale the LR for the batch size (MMPose's base batch size: {base})"
        _problem(problems, "optim", "auto_scale_lr", note, fatal=False)
    if names.get("resume"):
        _problem(problems, "runtime", "resume", "resume with `posekit train --resume`", fatal=False)
    if names.get("custom_imports"):
        reason = "posekit finds components through entry points (a name it lacks is reported on its own)"
        _problem(problems, "runtime", "custom_imports", reason, fatal=False)
