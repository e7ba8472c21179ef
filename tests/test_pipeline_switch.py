"""``data.train.pipeline_switch``: the training pipeline changes at an epoch, persistent workers included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import posekit
from posekit.config import load_config

CODEC = {"type": "MSRAHeatmap", "input_size": [64, 64], "heatmap_size": [16, 16], "sigma": 2}


class _Recorder:
    """Records, per epoch, the pipeline the dataset runs and the process ids of the loader's workers."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[list[str], list[int]]] = {}

    @posekit.hookimpl
    def before_train_iter(self, trainer: Any) -> None:
        names = [type(t).__name__ for t in trainer.train_dataset.pipeline]
        pids = [w.pid for w in trainer.train_loader._iterator._workers]
        self.seen.setdefault(trainer.epoch, (names, pids))


def test_pipeline_switches_at_its_epoch(posekit_configs: Any, shared: Path, tmp_path: Path) -> None:
    from posekit.engine import Trainer

    stage1_steps = posekit_configs.topdown_pipeline(codec=CODEC, augment=True)
    stage2_steps = [step for step in stage1_steps if step["type"] not in ("RandomFlip", "RandomBBoxTransform")]
    dataset = {
        "type": "CocoDataset",
        "data_root": str(shared / "data" / "coco"),
        "ann_file": "test_coco.json",
        "pipeline": stage1_steps,
        "indices": 4,
    }
    cfg = load_config(
        {
            "model": posekit_configs.heatmap_model(CODEC, deconv_out_channels=[16, 16, 16]),
            "metainfo": "coco",
            "data": {
                "train": {
                    "dataset": dataset,
                    "batch_size": 2,
                    "num_workers": 1,
                    "persistent_workers": True,
                    "pipeline_switch": {"epoch": 1, "pipeline": stage2_steps},
                }
            },
            "train": {"epochs": 2, "progress": False},
        }
    )
    recorder = _Recorder()
    Trainer(cfg, work_dir=tmp_path, plugins=[recorder]).fit()
    stage1 = [step["type"] for step in stage1_steps]
    stage2 = [step["type"] for step in stage2_steps]
    assert recorder.seen[0][0] == stage1 and recorder.seen[1][0] == stage2
    assert set(recorder.seen[0][1]).isdisjoint(recorder.seen[1][1])  # new workers, holding stage 2
