"""A whole MMPose config (``.py`` read by :mod:`posekit_mmpose.pyconfig`, or JSON) as a posekit experiment.

Each section maps onto posekit's experiment schema: ``model``; ``train/val/test_dataloader`` to
``data`` (datasets, pipelines, batch sizes, workers, sampler shuffle); ``val_evaluator`` to
``evaluator``; ``optim_wrapper`` and ``param_scheduler`` to ``optim``; ``train_cfg``,
``randomness``, ``default_hooks`` and ``custom_hooks`` (EMA) to ``train``, RTMPose's stage-2
``PipelineSwitchHook`` to ``data.train.pipeline_switch``. What has no posekit
equivalent is a :class:`Problem` (section, path, reason): :func:`convert_mmpose_config` refuses
the config unless ``partial=True``, which leaves those parts out. Settings that only tune
MMEngine's runner (visualizer, log processor, ``pin_memory``, ...) are :class:`Problem` notes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posekit.errors import ConfigError
from posekit.interop import missing_components, missing_message
from posekit_mmpose import sections
from posekit_mmpose.schedules import hooks


@dataclass(frozen=True)
class Problem:
    """A part of an MMPose config that posekit cannot express (``fatal``) or ignores (a note)."""

    section: str
    path: str
    reason: str
    fatal: bool = True
    component: str | None = None  # "kind Name" when the cause is a component posekit lacks

    def __str__(self) -> str:
        return f"  [{self.section}] {self.path}: {self.reason}"


class MissingComponentError(ConfigError):
    """The model names components posekit lacks; ``components`` holds ``(kind, name, path)``."""

    def __init__(self, message: str, components: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.components = components


class UnconvertedError(ConfigError):
    """Parts of the config cannot be converted (``problems``); ``partial=True`` leaves them out."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.problems = problems


def read_mmpose_config(path: str | Path) -> dict[str, Any]:
    """The top-level names of an MMPose config: ``.py`` (read, never run) or ``.json``.

    A JSON file holds the bare model dict (with a ``type`` key) or ``{"model": {...}, ...}``.
    """
    from posekit_mmpose.pyconfig import read_config

    path = Path(path)
    if path.suffix == ".py":
        names = read_config(path)
    elif path.suffix == ".json":
        if not path.is_file():
            raise ConfigError(f"{path}: MMPose config file not found")
        try:
            names = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON: {e}") from e
        if isinstance(names, dict) and "type" in names:
            names = {"model": names}
    else:
        raise ConfigError(f"{path}: expected an MMPose .py config or a .json model dict, got {path.suffix!r}")
    if not isinstance(names, dict) or not isinstance(names.get("model"), dict):
        raise ConfigError(f"{path}: no 'model = dict(...)' in the config or its _base_ files")
    return names


#: classes that new-style (``read_base``) configs import by name where posekit registers another name:
#: ``torch.nn.GroupNorm``, MMEngine's ``PretrainedInit``, MMPose's ``FrozenBatchNorm2d`` (a BN with fixed
#: statistics and affine: posekit's BN with its ``requires_grad=False`` and the backbone's ``norm_eval=True``)
CLASS_TYPES = {"GroupNorm": "GN", "PretrainedInit": "Pretrained", "FrozenBatchNorm2d": "BN"}


def clean(value: Any) -> Any:
    """A plain copy: ``_scope_`` keys dropped, scoped types (``mmdet.X``) unscoped, tuples as lists,
    ``metainfo=dict(from_file='.../x.py')`` (or the bare ``'.../x.py'`` of losses) as the definition name
    ``x``, ``file_client_args`` as ``backend_args``, :data:`CLASS_TYPES` as posekit's names."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "_scope_":
                continue
            if key == "type" and isinstance(item, str):
                item = item.rpartition(".")[2]
                item = CLASS_TYPES.get(item, item)
            elif key == "metainfo" and isinstance(item, Mapping) and set(item) == {"from_file"}:
                item = Path(str(item["from_file"])).stem
            elif key == "metainfo" and isinstance(item, str) and item.endswith(".py"):  # OKSLoss / PoseOKS
                item = Path(item).stem
            elif key == "file_client_args":  # MMCV's deprecated name, read by MMPose as backend_args
                key = "backend_args"
            out[str(key)] = clean(item)
        return out
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


#: ``model.test_cfg`` keys of MMPose configs that no MMPose code reads (its heads take ``test_cfg.get(...)``),
#: so they are dropped with a note rather than refused by posekit's strict ``test_cfg``
INERT_TEST_CFG_KEYS = {
    "Pmultiscale_test": "ED-Pose's misspelt switch (MMPose reads multiscale_test)",
    "num_select": "ED-Pose's; its EDPoseLabel codec's num_select decides",
}


def _drop_inert_test_cfg(model: dict[str, Any], problems: list[Problem]) -> None:
    test_cfg = model.get("test_cfg")
    for key in [k for k in test_cfg or {} if k in INERT_TEST_CFG_KEYS]:
        del test_cfg[key]
        problems.append(Problem("model", f"model.test_cfg.{key}", f"ignored: {INERT_TEST_CFG_KEYS[key]}", False))


def _resolve_repo_paths(model: dict[str, Any], source: str) -> None:
    """MMPose-repository config paths of the model (DWPoseDistiller's ``teacher_cfg='configs/...'``)
    made absolute: found under the nearest folder above ``source`` that holds them; else left as written."""
    for key, value in model.items():
        if isinstance(value, str) and value.startswith("configs/") and value.endswith(".py"):
            rest = value.removeprefix("configs/")
            found = next((p / rest for p in Path(source).resolve().parents if (p / rest).is_file()), None)
            if found is not None:
                model[key] = str(found)


def convert_names(names: Mapping[str, Any], source: str = "<config>") -> tuple[dict[str, Any], list[Problem]]:
    """``(experiment mapping, problems)`` of an MMPose config's top-level names.

    Raises:
        MissingComponentError: the model needs a component posekit lacks (naming each).
    """
    model = clean(names["model"])
    _resolve_repo_paths(model, source)
    if "type" not in model:
        raise ConfigError(f"{source}: the model dict has no 'type' (expected e.g. 'TopdownPoseEstimator')")
    missing = missing_components(model)
    if missing:
        raise MissingComponentError(missing_message(missing, source), missing)
    problems: list[Problem] = []
    _drop_inert_test_cfg(model, problems)
    start_from = None
    if "init_cfg" in model:  # the estimator's own init: a checkpoint to start from (IPR/DSNT) or a weight init
        init = model.pop("init_cfg")
        start_from = init.get("checkpoint") if isinstance(init, Mapping) else None
        if start_from:  # MMEngine loads it into the whole model, non-strictly: what train.load_from does
            reason = f"the estimator's Pretrained init_cfg becomes train.load_from ({start_from})"
            problems.append(Problem("model", "model.init_cfg", reason, False))
        else:  # RTMO, YOLOX-Pose: each posekit component initialises itself
            problems.append(
                Problem("model", "model.init_cfg", f"ignored {init!r}: components use their own init", False)
            )
    experiment: dict[str, Any] = {"model": model}
    data = sections.data(names, problems)
    sections.pipeline_switch(names, data, problems)
    if data:
        experiment["data"] = data
    evaluator = sections.evaluator(names, problems)
    if evaluator:
        experiment["evaluator"] = evaluator
    experiment["optim"] = sections.optim(names, problems)
    experiment["train"] = sections.train(names, problems)
    if start_from and "load_from" not in experiment["train"]:
        experiment["train"]["load_from"] = str(start_from)
    if hook_sections := hooks(names, problems, has_evaluator=bool(evaluator)):
        experiment["hooks"] = hook_sections
    metainfo = sections.metainfo(model, names, problems)
    if metainfo is not None:
        experiment["metainfo"] = metainfo
    elif isinstance(model.get("metainfo"), str):  # not installed: reported by sections.metainfo
        del model["metainfo"]
    sections.ignored(names, problems)
    return experiment, problems


def to_experiment(
    names: Mapping[str, Any], source: str = "<config>", partial: bool = False
) -> tuple[dict[str, Any], list[Problem]]:
    """``(validated experiment mapping, problems)`` of an MMPose config's names.

    Args:
        names: what :func:`read_mmpose_config` returns.
        source: the file name used in messages.
        partial: leave out what cannot be converted instead of refusing the config.

    Raises:
        MissingComponentError: the model needs a component posekit lacks.
        UnconvertedError: some part cannot be converted and ``partial`` is False.
    """
    from posekit.config import validate_experiment

    experiment, problems = convert_names(names, source)
    fatal = [p for p in problems if p.fatal]
    if fatal and not partial:
        raise UnconvertedError(
            f"{source}: {len(fatal)} part(s) cannot be converted to posekit:\n"
            + "\n".join(str(p) for p in fatal)
            + "\n  Pass --partial (partial=True) to write the rest without them.",
            fatal,
        )
    validate_experiment(experiment, source)
    return experiment, problems


def read_experiment(path: str | Path, partial: bool = False) -> dict[str, Any]:
    """An MMPose config file as a posekit experiment mapping (the ``posekit.config_formats`` reader)."""
    return to_experiment(read_mmpose_config(path), str(path), partial)[0]


def convert_mmpose_config(
    path: str | Path, out: str | Path, partial: bool = False
) -> tuple[dict[str, Any], list[Problem]]:
    """Write the posekit experiment YAML of an MMPose config; return it and every problem found.

    Args:
        path: the MMPose ``.py`` config or ``.json`` model dict.
        out: the YAML file to write (its folder is created).
        partial: write what converts, leaving out (and returning) what does not.
    """
    import yaml

    experiment, problems = to_experiment(read_mmpose_config(path), str(path), partial)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = f"# posekit experiment converted from the MMPose config {Path(path).name}\n"
    header += "".join(f"# not converted:{p}\n" for p in problems if p.fatal)
    out.write_text(header + yaml.safe_dump(experiment, sort_keys=False), encoding="utf-8")
    return experiment, problems


__all__ = [
    "MissingComponentError",
    "Problem",
    "UnconvertedError",
    "clean",
    "convert_mmpose_config",
    "convert_names",
    "read_experiment",
    "read_mmpose_config",
    "to_experiment",
]
