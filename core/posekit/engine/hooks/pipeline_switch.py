"""``pipeline_switch``: the training dataset changes its pipeline at an epoch (``data.train.pipeline_switch``).

posekit's equivalent of MMDetection's ``PipelineSwitchHook`` (RTMPose's stage 2: milder
augmentation for the last epochs). Runs at the start of every epoch, so a resumed run past the
switch epoch trains with the stage-2 pipeline too; persistent DataLoader workers are restarted
so they pick the new pipeline up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from posekit.hookspecs import hookimpl


def switch_pipeline(trainer: Any, pipeline: Sequence[Mapping[str, Any]], where: str) -> None:
    """Run the training dataset with ``pipeline`` from now on (for hooks that switch it: YOLOX-Pose's too).

    Args:
        trainer: the trainer.
        pipeline: the new pipeline's transform configs.
        where: the config path of ``pipeline``, for errors.
    """
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
