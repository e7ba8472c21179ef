"""``yoloxpose_mode_switch``: MMPose's ``YOLOXPoseModeSwitchHook`` (``hooks.yoloxpose_mode_switch``).

For the last ``num_last_epochs`` epochs the training data runs ``new_train_pipeline`` (no
Mosaic/MixUp) and the head's ``use_aux_loss`` is set. As MMPose, the switch comes before epoch
``epochs - num_last_epochs - 1`` (0-based); a run resumed past it switches at its first epoch.
Off until ``enabled``; a head without ``use_aux_loss`` is refused before training.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from posekit.engine.hooks.pipeline_switch import switch_pipeline
from posekit.hookspecs import hookimpl
from posekit.types import TransformConfig
from posekit_yolox_train.head_attrs import head_of, resolve

NAME = "yoloxpose_mode_switch"


class YOLOXPoseModeSwitchConfig(BaseModel):
    """``hooks.yoloxpose_mode_switch``: MMPose's ``YOLOXPoseModeSwitchHook`` settings."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    num_last_epochs: int = Field(20, ge=0)  # epochs at the end trained with the new pipeline and the aux loss
    new_train_pipeline: tuple[TransformConfig, ...] | None = None  # None: keep the pipeline


config_model = YOLOXPoseModeSwitchConfig


@hookimpl
def before_run(trainer: Any) -> None:
    if trainer.cfg.hooks.section(NAME).enabled:
        resolve(head_of(trainer, NAME), "use_aux_loss", NAME)


@hookimpl
def before_train_epoch(trainer: Any, epoch: int) -> None:
    cfg: YOLOXPoseModeSwitchConfig = trainer.cfg.hooks.section(NAME)
    if not cfg.enabled or epoch < trainer.max_epochs - cfg.num_last_epochs - 1 or trainer.hook_state.get(NAME):
        return
    if cfg.new_train_pipeline is not None:
        switch_pipeline(trainer, cfg.new_train_pipeline, f"hooks.{NAME}.new_train_pipeline")
    head_of(trainer, NAME).use_aux_loss = True
    trainer.hook_state[NAME] = True
