"""CID and DEKR train an epoch on the shared COCO images (validated by CocoMetric) and serve an image through
`posekit infer`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posekit.cli import main

CID = (
    {"type": "DecoupledHeatmap", "input_size": [64, 64], "heatmap_size": [16, 16]},
    {"type": "CIDHead", "gfd_channels": 8, "contrastive_loss": {"type": "InfoNCELoss", "temperature": 0.05}},
    {"train_cfg": {"max_train_instances": 4}, "test_cfg": {"flip_test": True}},
    {"loss/heatmap_coupled", "loss/heatmap_decoupled", "loss/contrastive"},
)
DEKR = (
    {
        "type": "SPR",
        "input_size": [64, 64],
        "heatmap_size": [16, 16],
        "sigma": [4, 2],
        "minimal_diagonal_length": 2**0.5,
        "generate_keypoint_heatmaps": True,
    },
    {"type": "DEKRHead", "num_heatmap_filters": 8, "num_displacement_filters_per_keypoint": 2},
    {"test_cfg": {"flip_test": True, "nms_dist_thr": 0.05, "shift_heatmap": True}},
    {"loss/heatmap", "loss/displacement"},
)


def _config(
    configs: Any, shared: Path, tmp_path: Path, codec: dict[str, Any], head: dict[str, Any], cfgs: dict[str, Any]
) -> Path:
    """A tiny ResNet-18 (stride 4: 16x16 maps of a 64x64 input) + ``head`` on the shared COCO images."""
    coco = {
        "type": "CocoDataset",
        "data_mode": "bottomup",
        "data_root": str(shared / "data" / "coco"),
        "ann_file": "test_coco.json",
    }
    train, val = configs.bottomup_pipeline(codec=codec), configs.bottomup_pipeline()
    resnet = {"type": "ResNet", "depth": 18, "stem_channels": 8, "base_channels": 8, "strides": [1, 1, 1, 1]}
    cfg = {
        "work_dir": str(tmp_path / "run"),
        "model": {
            "type": "BottomupPoseEstimator",
            "data_preprocessor": configs.IMAGENET_PREPROCESSOR,
            "backbone": resnet,
            "head": {**head, "in_channels": 64, "num_keypoints": 17, "decoder": codec},
            **cfgs,
        },
        "data": {
            "train": {"dataset": {**coco, "pipeline": train}, "batch_size": 2, "num_workers": 0},
            "val": {"dataset": {**coco, "pipeline": val, "test_mode": True}, "batch_size": 1, "num_workers": 0},
        },
        "evaluator": [{"type": "CocoMetric", "ann_file": str(shared / "data/coco/test_coco.json")}],
        "optim": {"optimizer": {"type": "Adam", "lr": 1e-3}},
        "train": {"epochs": 1, "progress": False},  # 4 images: 2 iterations, then a validation
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.mark.parametrize(("codec", "head", "cfgs", "losses"), [CID, DEKR], ids=["CID", "DEKR"])
def test_trains_and_serves(
    codec: dict[str, Any],
    head: dict[str, Any],
    cfgs: dict[str, Any],
    losses: set[str],
    shared: Path,
    posekit_configs: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(posekit_configs, shared, tmp_path, codec, head, cfgs)
    assert main(["train", str(config)]) == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "run" / "scalars.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["mode"] == "train"]
    assert train and losses <= set(train[0]) and all(np.isfinite(r["loss"]) for r in train)
    val = [r for r in rows if r["mode"] == "val"]
    assert val and np.isfinite(val[-1]["coco/AP"])
    image = next((shared / "data" / "coco").rglob("*.jpg"))
    out = tmp_path / "infer"
    args = ["infer", str(config), "--checkpoint", str(tmp_path / "run" / "epoch_1.pth"), "--input", str(image)]
    assert main([*args, "--out", str(out), "--no-draw"]) == 0, capsys.readouterr().err
    record = json.loads(next(out.rglob("*.json")).read_text())
    people = record["instances"] if isinstance(record, dict) and "instances" in record else record
    assert isinstance(people, list)
    for person in people:
        assert np.asarray(person["keypoints"]).shape == (17, 2) and np.isfinite(person["keypoints"]).all()
