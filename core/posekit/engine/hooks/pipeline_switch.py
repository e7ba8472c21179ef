"""``pipeline_switch``: MMDetection's ``PipelineSwitchHook`` (``data.train.pipeline_switch``, RTMPose's stage 2),
checked every epoch so a resumed run switches too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from posekit.hookspecs import hookimpl


def switch_pipeline(trainer: Any, pipeline: Sequence[Mapping[str, Any]], where: str) -> None:
    """Run the training dataset with ``pipeline`` (transform configs at config path ``where``) from now on."""
    from posekit.registry import build

    dataset = trainer.train_dataset
    dataset.pipeline = [build("transform", step, where=f"{where}[{i}]") for i, step in enumerate(pipeline)]
    dataset.pipeline_switched = True
    if getattr(trainer.train_loader, "persistent_workers", False):
        trainer.train_loader._iterator = None  # workers hold a copy of the dataset: start fresh ones


@hookimpl
def before_train_epoch(trainer: Any, epoch: int) -> None:
    split = trainer.cfg.data.train
    switch = split.pipeline_switch if split is not None else None
    if switch is None or epoch < switch.epoch or getattr(trainer.train_dataset, "pipeline_switched", False):
        return
    switch_pipeline(trainer, switch.pipeline, "data.train.pipeline_switch.pipeline")
