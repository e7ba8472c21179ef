"""``dsnt_epoch``: tells every ``DSNTHead`` of the trained model the epoch about to run, which its
``lambda_t`` (drop the heatmap loss from that epoch on) reads, as MMPose's head reads its MessageHub."""

from __future__ import annotations

from typing import Any

from posekit.hookspecs import hookimpl


@hookimpl
def before_train_epoch(trainer: Any, epoch: int) -> None:
    from posekit_regression.dsnt_head import DSNTHead

    for module in trainer.model.modules():
        if isinstance(module, DSNTHead):
            module.epoch = epoch
