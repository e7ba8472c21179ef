"""``pipeline_switch``: the training dataset changes its pipeline at an epoch (``data.train.pipeline_switch``).

posekit's equivalent of MMDetection's ``PipelineSwitchHook`` (RTMPose's stage 2: milder
augmentation for the last epochs). Runs at the start of every epoch, so a resumed run past the
switch epoch trains with the stage-2 pipeline too; persistent DataLoader workers are restarted
so they pick the new pipeline up.
"""

from __future__ import annotations

from typing import Any

from posekit.hookspecs import hookimpl


@hookimpl
def before_train_epoch(trainer: Any, epoch: int) -> None:
    from posekit.registry import build

    split = trainer.cfg.data.train
    switch = split.pipeline_switch if split is not None else None
    dataset = trainer.train_dataset
    if switch is None or epoch < switch.epoch or getattr(dataset, "pipeline_switched", False):
        return
    where = "data.train.pipeline_switch.pipeline"
    dataset.pipeline = [build("transform", step, where=f"{where}[{i}]") for i, step in enumerate(switch.pipeline)]
    dataset.pipeline_switched = True
    if getattr(trainer.train_loader, "persistent_workers", False):
        trainer.train_loader._iterator = None  # workers hold a copy of the dataset: start fresh ones
