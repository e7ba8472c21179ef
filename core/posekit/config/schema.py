"""The experiment config: pydantic models with ``extra="forbid"`` at every level.

Component configs (``model``, datasets, transforms, metrics) are ``{"type": Name, ...}``
mappings validated against the registered component's typed constructor.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from posekit.config.lr_phases import LRPhase, as_phase
from posekit.types import DatasetConfig, DetectorConfig, MetricConfig, OptimConstructorConfig, TransformConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)  # no .inf/.nan


class PipelineSwitch(_Strict):
    """From epoch ``epoch`` (0-based) on, the training dataset runs ``pipeline`` (RTMPose's stage 2)."""

    epoch: int = Field(ge=0)
    pipeline: tuple[TransformConfig, ...]


class DataSplit(_Strict):
    """One split: the dataset (with its pipeline) and how it is loaded."""

    dataset: DatasetConfig
    batch_size: int = Field(32, ge=1)
    num_workers: int = Field(2, ge=0)
    shuffle: bool | None = None  # default: True for train, False otherwise
    drop_last: bool = False
    persistent_workers: bool = True
    pipeline_switch: PipelineSwitch | None = None  # train split only (hook ``pipeline_switch``)
    pin_memory: bool | None = None  # page-locked batches (MMPose's dataloader key); None: on CUDA only

    def pins_memory(self, device_type: str) -> bool:
        """Whether this split's loader pins its batches on a ``device_type`` (``"cuda"``, ``"cpu"``) device."""
        return device_type == "cuda" if self.pin_memory is None else self.pin_memory


class DataSection(_Strict):
    train: DataSplit | None = None
    val: DataSplit | None = None
    test: DataSplit | None = None


class OptimizerCfg(_Strict):
    """Optimizer and per-parameter-group options."""

    type: Literal["SGD", "Adam", "AdamW"] = "AdamW"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)  # SGD
    nesterov: bool = False  # SGD
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)  # Adam(W)
    norm_decay_mult: float = Field(1.0, ge=0)  # weight decay multiplier on normalisation layers
    bias_decay_mult: float = Field(1.0, ge=0)  # weight decay multiplier on biases
    fused: bool | None = None  # torch's fused kernel (one per step, not per parameter); None: where supported
    # param groups from an optim_constructor component (posekit.optim_constructors); None: the two mults above
    constructor: OptimConstructorConfig | None = None

    @model_validator(mode="after")
    def _one_grouping(self) -> OptimizerCfg:
        mults = {"norm_decay_mult", "bias_decay_mult"} & self.model_fields_set
        if self.constructor is not None and mults:
            raise ValueError(f"{', '.join(sorted(mults))}: give it to the constructor ({self.constructor['type']})")
        return self


class SchedulerCfg(_Strict):
    """The LR schedule: MMEngine's schedulers as ``phases`` (MMPose's ``param_scheduler``), or the short form
    (a linear warmup over ``warmup_iters`` iterations times one ``policy``), which stands for :meth:`as_phases`."""

    phases: tuple[SerializeAsAny[LRPhase], ...] = ()  # each validated by its registered phase (kind lr_phase)
    policy: Literal["constant", "step", "multistep", "cosine"] = "constant"
    warmup_iters: int = Field(0, ge=0)
    warmup_ratio: float = Field(0.001, gt=0, le=1)
    step: int = Field(30, ge=1)  # epochs between decays (step)
    milestones: tuple[int, ...] = ()  # epochs (multistep)
    gamma: float = Field(0.1, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)  # cosine floor as a fraction of lr
    cosine_begin: int = Field(0, ge=0)  # epoch the cosine decay starts (RTMPose: epochs // 2); flat before

    @field_validator("phases", mode="before")
    @classmethod
    def _registered(cls, phases: Any) -> Any:
        return tuple(as_phase(p) for p in phases) if isinstance(phases, (list, tuple)) else phases

    @model_validator(mode="after")
    def _one_form(self) -> SchedulerCfg:
        short = self.model_fields_set - {"phases"}
        if self.phases and short:
            raise ValueError(f"give phases or the short form ({', '.join(sorted(short))}), not both")
        return self

    def as_phases(self, iters_per_epoch: int, total_iters: int) -> tuple[LRPhase, ...]:
        """The schedule as phases; the short form's cosine ends with the run (``total_iters``)."""
        if self.phases:
            return self.phases
        out: list[dict[str, Any]] = []
        if self.warmup_iters:  # MMEngine's LinearLR reaches 1 at its end - 1
            out.append({"type": "LinearLR", "start_factor": self.warmup_ratio, "end": self.warmup_iters + 1})
            out[-1]["by_epoch"] = False
        if self.policy == "step":
            out.append({"type": "StepLR", "step_size": self.step, "gamma": self.gamma})
        elif self.policy == "multistep":
            out.append({"type": "MultiStepLR", "milestones": self.milestones, "gamma": self.gamma})
        elif self.policy == "cosine" and self.cosine_begin * iters_per_epoch < total_iters:
            begin = self.cosine_begin * iters_per_epoch
            cosine = {"begin": begin, "end": total_iters, "T_max": total_iters - begin, "by_epoch": False}
            out.append({"type": "CosineAnnealingLR", **cosine, "eta_min_ratio": self.min_lr_ratio})
        return tuple(as_phase(p) for p in out)


class OptimSection(_Strict):
    optimizer: OptimizerCfg = OptimizerCfg()
    scheduler: SchedulerCfg = SchedulerCfg()
    clip_grad: float | None = Field(None, gt=0)  # max grad norm
    accumulate: int = Field(1, ge=1)  # gradient accumulation steps
    amp: bool = False  # autocast where the device supports it (bf16 on CPU, fp16 on CUDA)


class TrainSection(_Strict):
    epochs: int = Field(10, ge=1)
    max_iters: int | None = Field(None, ge=1)  # stop after this many iterations (tests, smoke runs)
    val_interval: int = Field(1, ge=1)  # epochs
    # (epoch, interval): from that epoch (1-based) on, validate every interval epochs (MMEngine's dynamic_intervals)
    dynamic_intervals: tuple[tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]], ...] = ()
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    nan_policy: Literal["stop", "skip"] = "stop"
    max_skipped_fraction: float = Field(0.25, ge=0, le=1)  # nan_policy=skip: more skipped steps fail the run
    dist_timeout: float = Field(1800.0, gt=0)  # seconds a collective waits for a stopped rank before failing
    sync_bn: bool = False
    channels_last: bool = True  # 4-D weights and inputs in the NHWC memory format (faster convs; same maths)
    retain_host_memory: bool = True  # reuse freed host memory across steps, no page faults (glibc; process-wide)
    find_unused_parameters: bool = False  # DistributedDataParallel's option (heads with unused branches)
    load_from: str | None = None  # weights to start from (MMPose's load_from): a checkpoint file or http(s) URL
    progress: bool = True

    def val_interval_at(self, epoch: int) -> int:
        """The validation interval in force during ``epoch`` (0-based), as MMEngine's ``EpochBasedTrainLoop``."""
        interval = self.val_interval
        for start, value in sorted(self.dynamic_intervals):
            if epoch + 1 >= start:
                interval = value
        return interval


#: settings that moved from ``train`` to their hook's section: old key -> (hook, new key; None: the whole section)
MOVED_TO_HOOKS: dict[str, tuple[str, str | None]] = {
    "checkpoint_interval": ("checkpoint", "interval"),
    "checkpoint_every_iters": ("checkpoint", "every_iters"),
    "keep_last": ("checkpoint", "keep_last"),
    "save_best": ("checkpoint", "save_best"),
    "save_best_rule": ("checkpoint", "save_best_rule"),
    "log_interval": ("logger", "interval"),
    "ema": ("ema", None),
}


def _move_legacy_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Read ``train.keep_last`` & co. (before hook sections existed) as ``hooks.checkpoint.keep_last`` & co."""
    import warnings

    train = data.get("train")
    if not isinstance(train, dict) or not MOVED_TO_HOOKS.keys() & train.keys():
        return data
    train = dict(train)
    hooks = dict(data.get("hooks") or {}) if isinstance(data.get("hooks", {}), dict) else data["hooks"]
    if not isinstance(hooks, dict):
        return data
    moves = []
    for old, (hook, key) in MOVED_TO_HOOKS.items():
        if old not in train:
            continue
        value = train.pop(old)
        section = dict(hooks.get(hook) or {})
        moved = value if key is None else {key: value}
        if not isinstance(moved, dict):
            raise ValueError(f"train.{old}: expected a mapping (now hooks.{hook}), got {value!r}")
        clash = moved.keys() & section.keys()
        if clash:
            raise ValueError(f"train.{old} and hooks.{hook}.{sorted(clash)[0]} both given; keep hooks.{hook} only")
        hooks[hook] = {**section, **moved}
        moves.append(f"train.{old} is now hooks.{hook}" + (f".{key}" if key else ""))
    warnings.warn(f"config: {'; '.join(moves)} (read as such; please move them)", FutureWarning, stacklevel=2)
    return {**data, "train": train, "hooks": hooks}


class HooksSection(BaseModel):
    """``enable``/``disable`` switch hooks by name; every other key is an installed hook's section
    (``hooks.ema.momentum``), validated against its ``config_model``: ``cfg.hooks.section("name")``."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    enable: tuple[str, ...] | None = None  # only these (None: all installed)
    disable: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_names(self) -> HooksSection:
        from posekit.plugins import hook_names

        installed = hook_names()
        for field, names in (("enable", self.enable or ()), ("disable", self.disable)):
            for name in names:
                if name not in installed:
                    raise ValueError(f"{field}: {_unknown_hook(name, installed)}")
        sections = self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}
        for name in sections:
            if name not in installed:
                raise ValueError(f"hooks.{name}: {_unknown_hook(name, installed)}")
        for name in installed:
            sections[name] = _hook_section(name, sections.get(name), required=name in sections)
        for name in [n for n, v in sections.items() if v is None]:
            del sections[name]  # a hook that failed to load: the plugin manager reports it
        return self

    def section(self, name: str) -> Any:
        """The validated settings of hook ``name`` (its ``config_model`` instance)."""
        extra = self.__pydantic_extra__ or {}
        if name not in extra:
            raise KeyError(f"hooks.{name}: no such hook section; sections: {', '.join(sorted(extra)) or '(none)'}")
        return extra[name]


def _unknown_hook(name: str, installed: list[str]) -> str:
    import difflib

    from posekit.registry import skipped

    close = difflib.get_close_matches(name, installed, n=3, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    left_out = [(e, why) for e, why in skipped() if (e.kind, e.name) == ("hook", name)]
    hint += "".join(f" {e.dist} {e.version} registers it but was {why}." for e, why in left_out)
    return (
        f"unknown hook {name!r}.{hint} Installed hooks (entry-point group 'posekit.hooks'): "
        f"{', '.join(installed) or '(none)'}"
    )


def _hook_section(name: str, value: Any, required: bool) -> Any:
    """``value`` validated against hook ``name``'s config model (None when the hook cannot load)."""
    from pydantic import ValidationError

    from posekit.errors import PluginLoadError, PosekitError
    from posekit.plugins import config_model, hook_entry

    try:
        model = config_model(name)
    except PluginLoadError:
        if required:
            raise
        return None
    except PosekitError as e:
        raise ValueError(str(e)) from e
    if isinstance(value, model):
        return value
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"hooks.{name}: expected a mapping of the hook's settings, got {value!r}"[:300])
    try:
        return model.model_validate(value or {})
    except ValidationError as e:
        entry = hook_entry(name)
        fields = ", ".join(model.model_fields) or "(none)"
        lines = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"hooks.{name}.{loc}: {msg}"[:300])
        raise ValueError(
            f"{'; '.join(lines)} (hook {name} from {entry.dist} {entry.version} accepts: {fields})"
        ) from None


class Experiment(_Strict):
    """A whole experiment: what to build, on which data, how to optimise and where to write."""

    model: dict[str, Any]
    data: DataSection = DataSection()
    evaluator: tuple[MetricConfig, ...] = ()
    optim: OptimSection = OptimSection()
    train: TrainSection = TrainSection()
    hooks: HooksSection = Field(default_factory=HooksSection)
    work_dir: str = "work_dirs/run"
    metainfo: str | None = None  # keypoint definition name or file, shared by data and metrics
    detector: DetectorConfig | None = None  # person detector for top-down inference (posekit.detectors)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {"hooks": {}, **_move_legacy_keys(data)}  # validate the hook sections even when absent

    @field_validator("model")
    @classmethod
    def _check_model(cls, v: dict[str, Any]) -> dict[str, Any]:
        from posekit.registry import validate_nested

        validate_nested("estimator", v)
        return v

    @model_validator(mode="after")
    def _check_keypoints(self) -> Experiment:
        """The head's K against every keypoint definition the config names (or its datasets default to)."""
        from posekit.errors import ConfigError, PosekitError
        from posekit.metainfo import load_metainfo
        from posekit.metainfo.consistency import check_keypoints

        for name, origin, split in self.definitions():
            found = self.keypoints_for(split)
            if found is None:
                continue
            try:
                definition = load_metainfo(name)
            except PosekitError as e:
                raise ConfigError(f"{origin}: {e}") from e
            check_keypoints(found, definition.num_keypoints, definition.flip_indices, f"{name!r} ({origin})")
        return self

    def keypoints_for(self, split: str | None) -> tuple[int, str] | None:
        """``(K, field)`` the model gives data of ``split``: the head's K, or at test time (``val``,
        ``test``) the length of ``test_cfg.output_keypoint_indices`` when set."""
        from posekit.metainfo.consistency import head_keypoints

        indices = (self.model.get("test_cfg") or {}).get("output_keypoint_indices")
        if indices and split in ("val", "test"):
            return len(indices), "model.test_cfg.output_keypoint_indices"
        return head_keypoints(self.model)

    def definitions(self) -> list[tuple[str, str, str | None]]:
        """``(definition name, where it is named, data split or None)`` for the experiment, the
        model and each dataset (its ``metainfo``, else its type's default)."""
        from posekit.metainfo.consistency import dataset_default_metainfo

        named: list[tuple[Any, str, str | None]] = [
            (self.metainfo, "metainfo", None),
            (self.model.get("metainfo"), "model.metainfo", None),
        ]
        for split in ("train", "val", "test"):
            cfg = getattr(self.data, split)
            if cfg is None:
                continue
            dataset = cfg.dataset
            if dataset.get("metainfo") is not None:
                named.append((dataset["metainfo"], f"data.{split}.dataset.metainfo", split))
                continue
            default = dataset_default_metainfo(dataset)  # None: left out below, as every name that is no string
            named.append((default, f"the default of {dataset['type']} at data.{split}.dataset", split))
        return [(name, origin, split) for name, origin, split in named if isinstance(name, str)]

    @model_validator(mode="after")
    def _check_best(self) -> Experiment:
        checkpoint = (self.hooks.__pydantic_extra__ or {}).get("checkpoint")
        if getattr(checkpoint, "save_best", None) is not None and not self.evaluator:
            raise ValueError("hooks.checkpoint.save_best names a metric but no evaluator is configured")
        return self
