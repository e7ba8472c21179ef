"""CID (CIDHead, DecoupledHeatmap) against MMPose 1.3.2; trains on COCO images; serves through `posekit infer`.

Reference case: ``fixtures/generate_cid.py`` (the model of ``cid_hrnet-w32_8xb20-140e_coco-512x512`` at
tiny sizes, random weights, an MMPose checkpoint). Models match within 1e-4 relative, codecs within 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import posekit
from posekit.cli import main
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample, TestCfg

FIXTURES = Path(__file__).parent / "fixtures"
GENERATOR = "plugins/posekit-bottomup/tests/fixtures/generate_cid.py"
FLIP_INDICES = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
SEED = 7


def _numpy(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_numpy(v) for v in obj)
    return obj


def _close(name: str, got: Any, ref: Any, rtol: float = 1e-4) -> None:
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{name}: shape {got.shape}, MMPose {ref.shape}"
    err = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12) if ref.size else 0.0
    assert err <= rtol, f"{name}: differs from MMPose by {err:.2e} of the scale (> {rtol}); regenerate: {GENERATOR}"


def test_cid_matches_mmpose() -> None:
    ref = torch.load(FIXTURES / "cid_outputs.pt", weights_only=True)
    model = posekit.init_model(ref["model"], FIXTURES / "cid.pth").eval()  # strict: MMPose's keys
    x = ref["input"]
    with torch.no_grad():
        _close("CID forward (people heatmaps)", model(x, mode="tensor"), ref["forward"])
        feats = model.extract_feat(x)
        samples = [PoseSample(flip_indices=FLIP_INDICES, input_size=(64, 64))]
        batch = PoseBatch(inputs=x, targets={}, samples=samples)
        for name, flip, head_feats in (
            ("predict", False, feats),
            ("predict_flip", True, (feats, model.extract_feat(x.flip(-1)))),
        ):
            pred = model.head.predict(head_feats, batch, TestCfg(flip_test=flip))[0]
            assert len(ref[name]["keypoints"]) > 0, "the reference case finds no person"
            _close(f"CID {name} keypoints", pred.keypoints, ref[name]["keypoints"])
            _close(f"CID {name} scores", pred.keypoint_scores, ref[name]["keypoint_scores"])


@pytest.mark.parametrize("case", range(2))
def test_decoupled_heatmap_matches_mmpose(case: int) -> None:
    import random

    ref = _numpy(torch.load(FIXTURES / "cid_outputs.pt", weights_only=True)["codec"][case])
    codec = build("codec", ref["config"])
    np.random.seed(SEED)  # the root jitter and the instance subset draw from the global generators, as MMPose
    random.seed(SEED)
    encoded = codec.encode(**ref["encode"])
    assert set(encoded) == set(ref["encoded"])
    for key, value in ref["encoded"].items():
        assert encoded[key].shape == value.shape, f"encode {key}: {encoded[key].shape} vs MMPose {value.shape}"
        np.testing.assert_allclose(encoded[key], value, rtol=1e-5, atol=1e-6, err_msg=f"encode {key} ({GENERATOR})")
    keypoints, scores = codec.decode(**ref["decode"])
    np.testing.assert_allclose(keypoints, ref["decoded"][0], rtol=1e-5, err_msg=f"decode keypoints ({GENERATOR})")
    np.testing.assert_allclose(scores, ref["decoded"][1], rtol=1e-5, err_msg=f"decode scores ({GENERATOR})")


def _cid_config(shared: Path, tmp_path: Path) -> Path:
    codec = {"type": "DecoupledHeatmap", "input_size": [64, 64], "heatmap_size": [16, 16]}
    coco = {"type": "CocoDataset", "data_root": str(shared / "data" / "coco"), "ann_file": "test_coco.json"}
    train = [
        {"type": "LoadImage"},
        {"type": "BottomupRandomAffine", "input_size": [64, 64]},
        {"type": "RandomFlip", "direction": "horizontal"},
        {"type": "GenerateTarget", "encoder": codec},
        {"type": "BottomupGetHeatmapMask"},
        {"type": "PackPoseInputs"},
    ]
    val = [
        {"type": "LoadImage"},
        {"type": "BottomupResize", "input_size": [64, 64], "size_factor": 32, "resize_mode": "expand"},
        {"type": "PackPoseInputs"},
    ]
    cfg = {
        "work_dir": str(tmp_path / "run"),
        "model": {
            "type": "BottomupPoseEstimator",
            "data_preprocessor": {
                "type": "PoseDataPreprocessor",
                "mean": [123.675, 116.28, 103.53],
                "std": [58.395, 57.12, 57.375],
                "bgr_to_rgb": True,
            },
            "backbone": {
                "type": "ResNet",
                "depth": 18,
                "stem_channels": 8,
                "base_channels": 8,
                "strides": [1, 1, 1, 1],
            },
            "head": {
                "type": "CIDHead",
                "in_channels": 64,
                "gfd_channels": 8,
                "num_keypoints": 17,
                "decoder": codec,
                "contrastive_loss": {"type": "InfoNCELoss", "temperature": 0.05},
            },
            "train_cfg": {"max_train_instances": 4},
            "test_cfg": {"flip_test": True},
        },
        "data": {
            "train": {"dataset": {**coco, "pipeline": train}, "batch_size": 2, "num_workers": 0},
            "val": {"dataset": {**coco, "pipeline": val, "test_mode": True}, "batch_size": 1, "num_workers": 0},
        },
        "evaluator": [{"type": "CocoMetric", "ann_file": str(shared / "data/coco/test_coco.json")}],
        "optim": {"optimizer": {"type": "Adam", "lr": 1e-3}},
        "train": {"epochs": 1, "progress": False, "max_iters": 3},
    }
    path = tmp_path / "cid.json"
    path.write_text(json.dumps(cfg))
    return path


def test_cid_trains_and_serves(shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _cid_config(shared, tmp_path)
    assert main(["train", str(config)]) == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "run" / "scalars.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["mode"] == "train"]
    assert train and {"loss/heatmap_coupled", "loss/heatmap_decoupled", "loss/contrastive"} <= set(train[0])
    assert all(np.isfinite(r["loss"]) for r in train)
    image = next((shared / "data" / "coco").rglob("*.jpg"))
    out = tmp_path / "infer"
    args = ["infer", str(config), "--checkpoint", str(tmp_path / "run" / "iter_3.pth"), "--input", str(image)]
    assert main([*args, "--out", str(out), "--no-draw"]) == 0, capsys.readouterr().err
    record = json.loads(next(out.rglob("*.json")).read_text())
    people = record["instances"] if isinstance(record, dict) and "instances" in record else record
    assert isinstance(people, list)
    for person in people:
        assert np.asarray(person["keypoints"]).shape == (17, 2) and np.isfinite(person["keypoints"]).all()


def test_decoupled_heatmap_person_of_one_keypoint_is_finite() -> None:
    """A box of no size gives the Gaussian's limit, a one-pixel peak (MMPose's sigma 0 writes NaN)."""
    codec = build("codec", {"type": "DecoupledHeatmap", "input_size": (64, 64), "heatmap_size": (16, 16)})
    keypoints = np.zeros((1, 17, 2), np.float32)
    keypoints[0, 3] = (20.0, 24.0)
    visible = np.zeros((1, 17), np.float32)
    visible[0, 3] = 1
    encoded = codec.encode(keypoints, visible)
    assert all(np.isfinite(v).all() for v in encoded.values())
    assert encoded["heatmaps"][3, 6, 5] == 1.0 and encoded["heatmaps"][3].sum() == 1.0
