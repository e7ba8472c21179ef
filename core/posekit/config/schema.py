"""The experiment config: pydantic models with ``extra="forbid"`` at every level.

Component configs (``model``, datasets, transforms, metrics) are ``{"type": Name, ...}``
mappings validated against the registered component's typed constructor.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from posekit.types import DatasetConfig, DetectorConfig, MetricConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)  # no .inf/.nan


class DataSplit(_Strict):
    """One split: the dataset (with its pipeline) and how it is loaded."""

    dataset: DatasetConfig
    batch_size: int = Field(32, ge=1)
    num_workers: int = Field(2, ge=0)
    shuffle: bool | None = None  # default: True for train, False otherwise
    drop_last: bool = False
    persistent_workers: bool = True


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


class SchedulerCfg(_Strict):
    """Linear warmup, then a step / multistep / cosine / constant schedule (per iteration)."""

    policy: Literal["constant", "step", "multistep", "cosine"] = "constant"
    warmup_iters: int = Field(0, ge=0)
    warmup_ratio: float = Field(0.001, gt=0, le=1)
    step: int = 30  # epochs between decays (step)
    milestones: tuple[int, ...] = ()  # epochs (multistep)
    gamma: float = Field(0.1, ge=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)  # cosine floor as a fraction of lr
    cosine_begin: int = Field(0, ge=0)  # epoch the cosine decay starts (RTMPose: epochs // 2); flat before


class OptimSection(_Strict):
    optimizer: OptimizerCfg = OptimizerCfg()
    scheduler: SchedulerCfg = SchedulerCfg()
    clip_grad: float | None = Field(None, gt=0)  # max grad norm
    accumulate: int = Field(1, ge=1)  # gradient accumulation steps
    amp: bool = False  # autocast where the device supports it (bf16 on CPU, fp16 on CUDA)


class EmaCfg(_Strict):
    enabled: bool = False
    momentum: float = Field(0.0002, gt=0, lt=1)  # weight of the new value, as MMPose's ExpMomentumEMA
    gamma: int = 2000  # momentum warmup (iterations)
    update_buffers: bool = False  # average buffers (BN statistics) too, instead of copying them


class TrainSection(_Strict):
    epochs: int = Field(10, ge=1)
    max_iters: int | None = Field(None, ge=1)  # stop after this many iterations (tests, smoke runs)
    val_interval: int = Field(1, ge=1)  # epochs
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    save_best: str | None = None  # metric name, e.g. "coco/AP"
    save_best_rule: Literal["greater", "less"] = "greater"
    checkpoint_interval: int = Field(1, ge=1)  # epochs
    checkpoint_every_iters: int | None = Field(None, ge=1)  # also save "latest" every N iterations
    keep_last: int = Field(2, ge=1)
    log_interval: int = Field(10, ge=1)  # iterations
    nan_policy: Literal["stop", "skip"] = "stop"
    max_skipped_fraction: float = Field(0.25, ge=0, le=1)  # nan_policy=skip: more skipped steps fail the run
    dist_timeout: float = Field(1800.0, gt=0)  # seconds a collective waits for a stopped rank before failing
    sync_bn: bool = False
    channels_last: bool = True  # 4-D weights and inputs in the NHWC memory format (faster convs; same maths)
    retain_host_memory: bool = True  # reuse freed host memory across steps, no page faults (glibc; process-wide)
    find_unused_parameters: bool = False  # DistributedDataParallel's option (heads with unused branches)
    ema: EmaCfg = EmaCfg()
    progress: bool = True


class HooksSection(_Strict):
    """Switch hook plugins (``posekit.hooks`` entry-point names) on and off."""

    enable: tuple[str, ...] | None = None  # only these (None: all installed)
    disable: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_names(self) -> HooksSection:
        import difflib

        from posekit.registry import entries

        installed = sorted({e.name for e in entries("hook")})
        for field, names in (("enable", self.enable or ()), ("disable", self.disable)):
            for name in names:
                if name not in installed:
                    close = difflib.get_close_matches(name, installed, n=3, cutoff=0.6)
                    hint = f" Did you mean: {', '.join(close)}?" if close else ""
                    raise ValueError(
                        f"{field}: unknown hook {name!r}.{hint} Installed hooks (entry-point group "
                        f"'posekit.hooks'): {', '.join(installed) or '(none)'}"
                    )
        return self


class Experiment(_Strict):
    """A whole experiment: what to build, on which data, how to optimise and where to write."""

    model: dict[str, Any]
    data: DataSection = DataSection()
    evaluator: tuple[MetricConfig, ...] = ()
    optim: OptimSection = OptimSection()
    train: TrainSection = TrainSection()
    hooks: HooksSection = HooksSection()
    work_dir: str = "work_dirs/run"
    metainfo: str | None = None  # keypoint definition name or file, shared by data and metrics
    detector: DetectorConfig | None = None  # person detector for top-down inference (posekit.detectors)

    @field_validator("model")
    @classmethod
    def _check_model(cls, v: dict[str, Any]) -> dict[str, Any]:
        from posekit.registry import validate_nested

        validate_nested("estimator", v)
        return v

    @model_validator(mode="after")
    def _check_best(self) -> Experiment:
        if self.train.save_best is not None and not self.evaluator:
            raise ValueError("train.save_best names a metric but no evaluator is configured")
        return self
