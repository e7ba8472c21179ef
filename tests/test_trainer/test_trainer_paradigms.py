"""``posekit train`` and ``posekit test`` end to end with the real components: top-down, bottom-up, lifting.

Tiny inputs and one short epoch on the shared sample data: the point is the wiring (dataset ->
pipeline -> collate -> preprocessor -> estimator -> loss/predict -> metric -> checkpoint), not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from posekit.cli import main


def _coco(shared: Path, pipeline: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    root = shared / "data" / "coco"
    return {"type": "CocoDataset", "data_root": str(root), "ann_file": "test_coco.json", "pipeline": pipeline, **kw}


def topdown(configs: Any, shared: Path) -> dict[str, Any]:
    codec = {"type": "MSRAHeatmap", "input_size": [64, 64], "heatmap_size": [16, 16], "sigma": 2}
    train, val = configs.topdown_pipeline(codec=codec, augment=True), configs.topdown_pipeline()
    return {
        "model": configs.heatmap_model(codec, deconv_out_channels=[16, 16, 16]),
        "data": {
            "train": {"dataset": _coco(shared, train, indices=8), "batch_size": 4, "num_workers": 0},
            "val": {"dataset": _coco(shared, val, test_mode=True, indices=4), "batch_size": 4, "num_workers": 0},
        },
        "evaluator": [{"type": "CocoMetric", "ann_file": str(shared / "data" / "coco" / "test_coco.json")}],
        "hooks": {"ema": {"enabled": True}, "checkpoint": {"save_best": "coco/AP"}},
        "optim": {"optimizer": {"type": "AdamW", "lr": 5e-4, "weight_decay": 0.05}},
    }


def bottomup(configs: Any, shared: Path) -> dict[str, Any]:
    codec = {"type": "AssociativeEmbedding", "input_size": [64, 64], "heatmap_size": [16, 16], "sigma": 2}
    order = [0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16]
    train, val = configs.bottomup_pipeline(codec=codec), configs.bottomup_pipeline()
    return {
        "model": {
            "type": "BottomupPoseEstimator",
            "data_preprocessor": configs.IMAGENET_PREPROCESSOR,
            "backbone": {"type": "ResNet", "depth": 18},
            "head": {
                "type": "AssociativeEmbeddingHead",
                "in_channels": 512,
                "num_keypoints": 17,
                "deconv_out_channels": [16, 16, 16],
                "keypoint_loss": {"type": "KeypointMSELoss", "use_target_weight": True},
                "tag_loss": {"type": "AssociativeEmbeddingLoss", "loss_weight": 0.001},
                "decoder": {**codec, "decode_keypoint_order": order, "decode_max_instances": 30},
            },
        },
        "data": {
            "train": {"dataset": _coco(shared, train, data_mode="bottomup"), "batch_size": 2, "num_workers": 0},
            "val": {
                "dataset": _coco(shared, val, data_mode="bottomup", test_mode=True),
                "batch_size": 1,
                "num_workers": 0,
            },
        },
        "evaluator": [
            {
                "type": "CocoMetric",
                "ann_file": str(shared / "data" / "coco" / "test_coco.json"),
                "nms_mode": "none",
                "score_mode": "keypoint",
            }
        ],
        "optim": {"optimizer": {"type": "Adam", "lr": 1.5e-3}},
    }


def lifting(configs: Any, shared: Path) -> dict[str, Any]:
    codec = {"type": "VideoPoseLifting", "num_keypoints": 17, "zero_center": True, "root_index": 0}
    pipeline = [{"type": "GenerateTarget", "encoder": codec}, {"type": "PackPoseInputs"}]

    def h36m(**kw: Any) -> dict[str, Any]:
        return {
            "type": "Human36mDataset",
            "data_root": str(shared / "data" / "h36m"),
            "ann_file": "test_h36m_body3d.npz",
            "camera_param_file": "cameras.pkl",
            "seq_len": 27,
            "causal": False,
            "pad_video_seq": True,
            "pipeline": pipeline,
            **kw,
        }

    return {
        "model": {
            "type": "PoseLifter",
            "backbone": {"type": "TCN", "in_channels": 34, "stem_channels": 32, "use_stride_conv": True},
            "head": {
                "type": "TemporalRegressionHead",
                "in_channels": 32,
                "num_joints": 17,
                "loss": {"type": "MPJPELoss"},
                "decoder": codec,
            },
        },
        "data": {
            "train": {"dataset": h36m(), "batch_size": 2, "num_workers": 0},
            "val": {"dataset": h36m(test_mode=True), "batch_size": 2, "num_workers": 0},
        },
        "evaluator": [{"type": "MPJPE", "mode": "mpjpe"}, {"type": "MPJPE", "mode": "p-mpjpe"}],
        "hooks": {"checkpoint": {"save_best": "MPJPE", "save_best_rule": "less"}},
        "optim": {"optimizer": {"type": "Adam", "lr": 1e-3}, "scheduler": {"policy": "step", "step": 1}},
    }


@pytest.mark.parametrize("paradigm", [topdown, bottomup, lifting], ids=lambda f: f.__name__)
def test_train_then_test(
    paradigm: Any, posekit_configs: Any, shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = paradigm(posekit_configs, shared)
    cfg["train"] = {**cfg.get("train", {}), "epochs": 1, "progress": False}
    cfg["work_dir"] = str(tmp_path / "run")
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    assert main(["train", str(path)]) == 0, capsys.readouterr().err
    work = tmp_path / "run"
    ckpt = torch.load(work / "epoch_1.pth", map_location="cpu", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())
    rows = [json.loads(line) for line in (work / "scalars.jsonl").read_text().splitlines()]
    val = [r for r in rows if r["mode"] == "val"]
    assert len(val) == 1 and all(isinstance(v, float) for k, v in val[0].items() if k not in ("mode", "epoch", "iter"))
    capsys.readouterr()
    assert main(["test", str(path), "--checkpoint", str(work / "epoch_1.pth")]) == 0
    printed = capsys.readouterr().out
    first_metric = next(k for k in val[0] if k not in ("mode", "epoch", "iter"))
    assert first_metric in printed
