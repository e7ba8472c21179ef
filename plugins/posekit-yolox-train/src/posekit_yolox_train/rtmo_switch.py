"""``rtmo_mode_switch``: MMPose's ``RTMOModeSwitchHook`` (``hooks.rtmo_mode_switch``).

Before epoch ``E`` (0-based) the head attributes ``epoch_attributes[E]`` names (dotted paths:
``loss_oks.loss_weight``) take their values; a run resumed later applies every earlier epoch's
changes, in order, at its first epoch. Every path must exist on the head (checked before training).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from posekit.hookspecs import hookimpl
from posekit_yolox_train.head_attrs import head_of, resolve

NAME = "rtmo_mode_switch"


class RTMOModeSwitchConfig(BaseModel):
    """``hooks.rtmo_mode_switch``: MMPose's ``RTMOModeSwitchHook`` settings."""

    model_config = ConfigDict(extra="forbid")

    epoch_attributes: dict[int, dict[str, Any]] = {}  # epoch (0-based) -> {head attribute path: value}

    @model_validator(mode="after")
    def _epochs(self) -> RTMOModeSwitchConfig:
        if any(epoch < 0 for epoch in self.epoch_attributes):
            raise ValueError(f"epoch_attributes: epochs are >= 0, got {sorted(self.epoch_attributes)}")
        return self


config_model = RTMOModeSwitchConfig


@hookimpl
def before_run(trainer: Any) -> None:
    for changes in trainer.cfg.hooks.section(NAME).epoch_attributes.values():
        for path in changes:
            resolve(head_of(trainer, NAME), path, NAME)


@hookimpl
def before_train_epoch(trainer: Any, epoch: int) -> None:
    done: set[int] = trainer.hook_state.setdefault(NAME, set())
    for at, changes in sorted(trainer.cfg.hooks.section(NAME).epoch_attributes.items()):
        if at > epoch or at in done:
            continue
        for path, value in changes.items():
            owner, name = resolve(head_of(trainer, NAME), path, NAME)
            setattr(owner, name, value)
        done.add(at)
