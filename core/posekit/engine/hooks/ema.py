"""``ema``: MMEngine's ``EMAHook``, swapped in for validation; a checkpoint's ``state_dict`` holds the averaged
weights and ``ema_state_dict`` the training ones under ``module.`` keys with ``steps`` (MMEngine's layout)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from posekit.engine.ema import ExpMomentumEMA
from posekit.hookspecs import hookimpl


class EmaConfig(BaseModel):
    """``hooks.ema``: MMPose's ``ExpMomentumEMA`` settings."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    momentum: float = Field(0.0002, gt=0, lt=1)  # weight of the new value, as MMPose's ExpMomentumEMA
    gamma: int = Field(2000, ge=1)  # momentum warmup (iterations)
    update_buffers: bool = False  # average buffers (BN statistics) too, instead of copying them


config_model = EmaConfig


def _ema(trainer: Any) -> ExpMomentumEMA | None:
    cfg: EmaConfig = trainer.cfg.hooks.section("ema")
    if not cfg.enabled:
        return None
    ema = trainer.hook_state.get("ema")
    if ema is None:
        ema = ExpMomentumEMA(trainer.model, momentum=cfg.momentum, gamma=cfg.gamma, update_buffers=cfg.update_buffers)
        trainer.hook_state["ema"] = ema
    return ema


def _swap_in_checkpoint(checkpoint: dict[str, Any]) -> None:
    """Exchange ``state_dict[k]`` and ``ema_state_dict["module." + k]`` for every averaged key."""
    model_sd = checkpoint["state_dict"]
    ema_sd = checkpoint["ema_state_dict"]
    for key in list(ema_sd):
        if key.startswith("module.") and key[7:] in model_sd:
            ema_sd[key], model_sd[key[7:]] = model_sd[key[7:]], ema_sd[key]


@hookimpl
def before_run(trainer: Any) -> None:
    _ema(trainer)


@hookimpl(tryfirst=True)
def after_train_iter(trainer: Any) -> None:
    ema = _ema(trainer)
    if ema is not None and trainer.optimizer_stepped:
        ema.update_parameters(trainer.model)


@hookimpl(trylast=True)
def before_val(trainer: Any) -> None:
    ema = _ema(trainer)
    if ema is not None:
        ema.swap(trainer.model)


@hookimpl(tryfirst=True)
def after_val(trainer: Any) -> None:
    ema = _ema(trainer)
    if ema is not None:
        ema.swap(trainer.model)


@hookimpl
def on_save_checkpoint(trainer: Any, checkpoint: dict[str, Any]) -> None:
    ema = _ema(trainer)
    if ema is None:
        return
    checkpoint["state_dict"] = dict(checkpoint["state_dict"])
    checkpoint["ema_state_dict"] = dict(ema.state_dict())
    _swap_in_checkpoint(checkpoint)


@hookimpl
def on_load_checkpoint(trainer: Any, checkpoint: dict[str, Any]) -> None:
    if "ema_state_dict" not in checkpoint:
        return
    _swap_in_checkpoint(checkpoint)  # the model resumes from its training weights
    ema = _ema(trainer)
    if ema is not None:
        ema.load_state_dict(checkpoint["ema_state_dict"])
