"""The mode-switch hooks in a real training run: what changes at which epoch, and what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import posekit
from posekit.config import load_config
from posekit.errors import ConfigError

CODEC = {"type": "MSRAHeatmap", "input_size": [64, 64], "heatmap_size": [16, 16], "sigma": 2}
STAGE1 = [
    {"type": "LoadImage"},
    {"type": "GetBBoxCenterScale"},
    {"type": "RandomFlip", "direction": "horizontal"},
    {"type": "TopdownAffine", "input_size": [64, 64]},
    {"type": "GenerateTarget", "encoder": CODEC},
    {"type": "PackPoseInputs"},
]
STAGE2 = [step for step in STAGE1 if step["type"] != "RandomFlip"]


class _Recorder:
    """Gives the head a ``use_aux_loss`` switch (as YOLOXPoseHead has) and records the head per epoch."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[list[str], bool, float]] = {}

    @posekit.hookimpl(tryfirst=True)
    def before_run(self, trainer: Any) -> None:
        trainer.model.head.use_aux_loss = False

    @posekit.hookimpl
    def before_train_iter(self, trainer: Any) -> None:
        head = trainer.model.head
        names = [type(t).__name__ for t in trainer.train_dataset.pipeline]
        self.seen.setdefault(trainer.epoch, (names, head.use_aux_loss, head.loss_module.loss_weight))


def _dataset(shared: Path, samples: int) -> dict[str, Any]:
    """The first ``samples`` people of the shared COCO file through :data:`STAGE1`."""
    return {
        "type": "CocoDataset",
        "data_root": str(shared / "data" / "coco"),
        "ann_file": "test_coco.json",
        "pipeline": STAGE1,
        "indices": samples,
    }


def _config(shared: Path, hooks: dict[str, Any], **sections: Any) -> Any:
    dataset = _dataset(shared, 2)
    return load_config(
        {
            "model": {
                "type": "TopdownPoseEstimator",
                "backbone": {"type": "ResNet", "depth": 18, "stem_channels": 8, "base_channels": 8},
                "head": {
                    "type": "HeatmapHead",
                    "in_channels": 64,
                    "out_channels": 17,
                    "deconv_out_channels": [8, 8, 8],
                    "decoder": CODEC,
                },
            },
            "metainfo": "coco",
            "data": {"train": {"dataset": dataset, "batch_size": 2, "num_workers": 0}},
            "train": {"epochs": 4, "progress": False},
            "hooks": {"disable": ["checkpoint"], **hooks},
            **sections,
        }
    )


def test_switches_happen_at_their_epochs(shared: Path, tmp_path: Path) -> None:
    from posekit.engine import Trainer

    hooks = {
        "yoloxpose_mode_switch": {"enabled": True, "num_last_epochs": 1, "new_train_pipeline": STAGE2},
        "rtmo_mode_switch": {"epoch_attributes": {1: {"loss_module.loss_weight": 5.0}, 3: {"use_aux_loss": False}}},
    }
    recorder = _Recorder()
    Trainer(_config(shared, hooks), work_dir=tmp_path, plugins=[recorder]).fit()
    stage1, stage2 = [s["type"] for s in STAGE1], [s["type"] for s in STAGE2]
    # YOLOX-Pose: before epoch epochs - num_last_epochs - 1 = 2 (0-based), as MMPose's hook
    assert recorder.seen[0] == (stage1, False, 1.0)
    assert recorder.seen[1] == (stage1, False, 5.0)
    assert recorder.seen[2] == (stage2, True, 5.0)
    assert recorder.seen[3] == (stage2, False, 5.0)  # the RTMO switch of epoch 3 runs after


class _Epochs:
    """Records, per epoch, the training samples, the iterations per epoch and the LR of each iteration."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[int, int, list[float]]] = {}

    @posekit.hookimpl
    def before_train_iter(self, trainer: Any) -> None:
        epoch = self.seen.setdefault(trainer.epoch, (len(trainer.train_dataset), trainer.iters_per_epoch, []))
        epoch[2].append(trainer.optimizer.param_groups[0]["lr"])


def test_a_new_train_dataset_replaces_the_data_and_resumes(shared: Path, tmp_path: Path) -> None:
    """Body7's RTMO: the last epoch trains on another dataset (4 people, not 2: two batches per epoch). The LR
    schedule by epoch still decays at its epoch, and a run resumed after the switch trains on the new data."""
    from posekit.engine import Trainer

    switch = {"enabled": True, "num_last_epochs": 2, "new_train_dataset": _dataset(shared, 4)}
    optim = {"optimizer": {"type": "Adam", "lr": 1e-3}, "scheduler": {"policy": "multistep", "milestones": [3]}}
    hooks = {"yoloxpose_mode_switch": switch, "checkpoint": {"keep_last": 4}, "disable": []}
    full = _Epochs()
    cfg = _config(shared, hooks, optim=optim)
    Trainer(cfg, work_dir=tmp_path / "full", plugins=[full, _Recorder()]).fit()
    # switched before epoch 4 - 2 - 1 = 1 (0-based): 2 samples (1 batch of 2) then 4 (2 batches)
    assert {e: s[:2] for e, s in full.seen.items()} == {0: (2, 1), 1: (4, 2), 2: (4, 2), 3: (4, 2)}
    lrs = {e: s[2] for e, s in full.seen.items()}
    assert lrs[2] == pytest.approx([1e-3, 1e-3]) and lrs[3] == pytest.approx([1e-4, 1e-4])  # decay at epoch 3

    resumed = _Epochs()
    after_switch = tmp_path / "full" / "epoch_2.pth"
    Trainer(cfg, work_dir=tmp_path / "full", resume=after_switch, plugins=[resumed, _Recorder()]).fit()
    assert {e: s[:2] for e, s in resumed.seen.items()} == {2: (4, 2), 3: (4, 2)}
    assert resumed.seen[2][2] + resumed.seen[3][2] == pytest.approx(lrs[2] + lrs[3])


def test_switches_are_off_by_default(shared: Path) -> None:
    hooks = _config(shared, {}).hooks
    assert not hooks.section("yoloxpose_mode_switch").enabled
    assert hooks.section("rtmo_mode_switch").epoch_attributes == {}


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        ({"yoloxpose_mode_switch": {"enabled": True}}, r"model.head \(HeatmapHead\) has no attribute 'use_aux_loss'"),
        (
            {"rtmo_mode_switch": {"epoch_attributes": {2: {"loss_module.weight": 2.0}}}},
            r"no attribute 'loss_module.weight' \(KeypointMSELoss has no 'weight'\)",
        ),
    ],
)
def test_a_missing_head_attribute_is_refused_before_training(
    shared: Path, tmp_path: Path, hooks: dict[str, Any], message: str
) -> None:
    from posekit.engine import Trainer

    with pytest.raises(ConfigError, match=message):
        Trainer(_config(shared, hooks), work_dir=tmp_path).fit()


def test_sections_are_validated(shared: Path) -> None:
    with pytest.raises(ValueError, match=r"hooks\.yoloxpose_mode_switch\.num_last_epochs"):
        _config(shared, {"yoloxpose_mode_switch": {"num_last_epochs": -1}})
    with pytest.raises(ValueError, match=r"hooks\.rtmo_mode_switch\.epoch_atributes: unknown field"):
        _config(shared, {"rtmo_mode_switch": {"epoch_atributes": {}}})
