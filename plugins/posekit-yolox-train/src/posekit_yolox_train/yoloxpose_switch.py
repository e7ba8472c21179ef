"""``yoloxpose_mode_switch``: MMPose's ``YOLOXPoseModeSwitchHook`` (``hooks.yoloxpose_mode_switch``).

For the last ``num_last_epochs`` epochs the training data changes and the head's ``use_aux_loss``
is set. The data: ``new_train_dataset`` (built with ``new_train_pipeline`` when given: MMPose's Body7
RTMO configs finish on COCO alone) replaces the training dataset, the loader rebuilt and epochs
taking its length (:meth:`posekit.engine.Trainer.replace_train_dataset`: the LR schedule keeps
following epochs); else ``new_train_pipeline`` (no Mosaic/MixUp) replaces the pipeline. As MMPose,
the switch comes before epoch ``epochs - num_last_epochs - 1`` (0-based); a run resumed past it
switches before its loop starts. Off until ``enabled``; a head without ``use_aux_loss`` is refused
before training.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from posekit.engine.hooks.pipeline_switch import switch_pipeline
from posekit.hookspecs import hookimpl
from posekit.types import DatasetConfig, TransformConfig
from posekit_yolox_train.head_attrs import head_of, resolve

NAME = "yoloxpose_mode_switch"


class YOLOXPoseModeSwitchConfig(BaseModel):
    """``hooks.yoloxpose_mode_switch``: MMPose's ``YOLOXPoseModeSwitchHook`` settings."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    num_last_epochs: int = Field(20, ge=0)  # epochs at the end trained on the new data and with the aux loss
    new_train_dataset: DatasetConfig | None = None  # None: keep the dataset
    new_train_pipeline: tuple[TransformConfig, ...] | None = None  # None: keep the pipeline


config_model = YOLOXPoseModeSwitchConfig


def _switch_epoch(trainer: Any, cfg: YOLOXPoseModeSwitchConfig) -> int:
    return trainer.max_epochs - cfg.num_last_epochs - 1


def _switch(trainer: Any, cfg: YOLOXPoseModeSwitchConfig) -> None:
    from posekit.registry import build

    if cfg.new_train_dataset is not None:
        where = f"hooks.{NAME}.new_train_dataset"
        dataset = dict(cfg.new_train_dataset)
        if cfg.new_train_pipeline is not None:
            dataset["pipeline"] = list(cfg.new_train_pipeline)
        trainer.replace_train_dataset(build("dataset", dataset, where=where), where)
    elif cfg.new_train_pipeline is not None:
        switch_pipeline(trainer, cfg.new_train_pipeline, f"hooks.{NAME}.new_train_pipeline")
    head_of(trainer, NAME).use_aux_loss = True
    trainer.hook_state[NAME] = True


@hookimpl
def before_run(trainer: Any) -> None:
    cfg: YOLOXPoseModeSwitchConfig = trainer.cfg.hooks.section(NAME)
    if not cfg.enabled:
        return
    resolve(head_of(trainer, NAME), "use_aux_loss", NAME)
    if trainer.epoch >= _switch_epoch(trainer, cfg):  # resumed at or past the switch: its data before the loop
        _switch(trainer, cfg)


@hookimpl
def before_train_epoch(trainer: Any, epoch: int) -> None:
    cfg: YOLOXPoseModeSwitchConfig = trainer.cfg.hooks.section(NAME)
    if not cfg.enabled or epoch < _switch_epoch(trainer, cfg) or trainer.hook_state.get(NAME):
        return
    _switch(trainer, cfg)
