"""The InterHand2.6M datasets, HandRandomFlip and InterHandMetric on a tiny InterHand-format set (conftest),
and the tiny InterNet config: trained two iterations, validated, served by ``posekit infer`` with 3D keypoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from posekit.cli import main
from posekit.errors import ConfigError
from posekit.registry import build
from posekit.structures import PoseResult

CONFIG = Path(__file__).parents[1] / "configs" / "internet_tiny.yaml"
FILES = {
    "ann_file": "annotations/data.json",
    "camera_param_file": "annotations/camera.json",
    "joint_file": "annotations/joint_3d.json",
    "data_prefix": {"img": "images/"},
}


def dataset(root: Path, kind: str = "InterHand3DDataset", **kwargs: Any) -> Any:
    return build("dataset", {"type": kind, "data_root": str(root), **FILES, **kwargs})


def test_3d_dataset_reads_interhand_files(interhand_root: Path) -> None:
    ds = dataset(interhand_root)
    assert len(ds) == 4
    sample = ds.get_data_info(1)  # left wrist not valid: the whole left hand is not
    coco = json.loads((interhand_root / "annotations/data.json").read_text())
    bbox = np.array(coco["annotations"][1]["bbox"], np.float32)
    np.testing.assert_allclose(sample.bbox[0], [*bbox[:2], *(bbox[:2] + bbox[2:])])
    assert sample.keypoints.shape == (1, 42, 3)
    assert sample.keypoints_visible[0, :21].all() and not sample.keypoints_visible[0, 21:].any()
    cam = sample.extra["keypoints_cam"][0]
    np.testing.assert_allclose(sample.keypoints[0, :21, 2], cam[:21, 2] - cam[20, 2], atol=1e-3)
    np.testing.assert_allclose(sample.extra["abs_depth"], cam[[20, 41], 2])
    assert sample.extra["rel_root_valid"] == 0 and sample.extra["hand_type"].tolist() == [[0.0, 1.0]]
    # pixels: the projection of the camera-space joints
    proj = cam[:, :2] / cam[:, 2:] * sample.extra["focal"] + sample.extra["principal_pt"]
    np.testing.assert_allclose(sample.keypoints[0, :, :2], proj, rtol=1e-5)


def test_2d_double_dataset(interhand_root: Path) -> None:
    ds = dataset(interhand_root, "InterHand2DDoubleDataset", sample_interval=2)
    assert len(ds) == 2
    sample = ds.get_data_info(0)
    assert sample.keypoints.shape == (1, 42, 2) and set(sample.extra) == {"hand_type", "hand_type_valid"}
    with pytest.raises(ConfigError, match="rootnet_result_file"):
        dataset(interhand_root, use_gt_root_depth=False)


def _sections(node: Any, type_name: str) -> Iterator[dict[str, Any]]:
    """Every mapping of ``type: type_name`` in a (converted) experiment, depth first."""
    if isinstance(node, dict):
        if node.get("type") == type_name:
            yield node
        for value in node.values():
            yield from _sections(value, type_name)
    elif isinstance(node, list):
        for value in node:
            yield from _sections(value, type_name)


def test_rtmw_cocktail_interhand_section(
    posekit_configs: Any, interhand_root: Path, shared: Path, tmp_path: Path
) -> None:
    """RTMW's InterHand2DDoubleDataset section, its KeypointConverter to COCO-WholeBody included, on the tiny set."""
    path = shared / "mmpose-configs/wholebody_2d_keypoint/rtmpose/cocktail14/rtmw-m_8xb1024-270e_cocktail14-256x192.py"
    experiment = yaml.safe_load(posekit_configs.convert_and_check(path, tmp_path).read_text())
    (section,) = _sections(experiment["data"]["train"], "InterHand2DDoubleDataset")
    ds = dataset(
        interhand_root, section["type"], sample_interval=section["sample_interval"], pipeline=section["pipeline"]
    )
    sample = ds[0]
    assert sample.keypoints.shape == (1, 133, 2) and sample.keypoints_visible[0, 91:].all()
    assert not sample.keypoints_visible[0, :91].any()


def test_hand_random_flip(interhand_root: Path) -> None:
    ds = dataset(interhand_root)
    sample = ds.get_data_info(0)
    sample.img_shape = sample.ori_shape
    kpts = sample.keypoints.copy()
    depth = float(sample.extra["rel_root_depth"])
    out = build("transform", {"type": "HandRandomFlip", "prob": 1.0})(sample)
    assert out.flip and out.extra["hand_type"].tolist() == [[0.0, 1.0]] and out.extra["rel_root_depth"] == -depth
    np.testing.assert_allclose(out.keypoints[0, 0, 2], kpts[0, 21, 2])  # the right thumb is the old left one


def test_metric_perfect_and_off_predictions(interhand_root: Path) -> None:
    ds = dataset(interhand_root)
    metric = build("metric", {"type": "InterHandMetric"})
    results = []
    for i in range(len(ds)):
        s = ds.get_data_info(i)
        rel = np.array([s.extra["rel_root_depth"]], np.float32)
        extra = {"rel_root_depth": rel, "hand_type": s.extra["hand_type"].astype(int)}
        kpts = s.keypoints.copy()
        kpts[0, :21, 2] += 10.0 * (i == 0)  # the first sample's right hand 10 mm deeper (root-relative: no error)
        results.append(PoseResult(kpts, np.ones((1, 42)), s.bbox, s.bbox_score, s, extra=extra))
    metrics = metric.process(results) or metric.evaluate()
    assert metrics["MPJPE_all"] < 0.5 and metrics["MRRPE"] < 1e-3 and metrics["HandednessAcc"] == 1.0
    results[3].extra["hand_type"] = np.array([[1, 0]])
    results[2].extra["rel_root_depth"] = results[2].extra["rel_root_depth"] + 40.0
    metric.process(results)
    metrics = metric.evaluate()
    assert metrics["HandednessAcc"] == 0.75 and metrics["MRRPE"] > 10.0


def test_tiny_internet_trains_and_serves_3d(
    interhand_root: Path, shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sets = [f"data.{s}.dataset.data_root={interhand_root}" for s in ("train", "val")]
    args = ["--set", f"work_dir={tmp_path / 'run'}"] + [a for s in sets for a in ("--set", s)]
    assert main(["train", str(CONFIG), *args]) == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "run" / "scalars.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["mode"] == "train"]
    assert len(train) >= 1 and {"loss_kpt", "loss_rel_root", "loss_hand_type"} <= set(train[0])
    val = [r for r in rows if r["mode"] == "val"]
    assert val and np.isfinite(val[-1]["MPJPE_all"]) and 0 <= val[-1]["HandednessAcc"] <= 1
    image = shared / "data" / "onehand10k" / "9.jpg"
    out = tmp_path / "infer"
    infer = ["infer", str(CONFIG), "--checkpoint", str(tmp_path / "run" / "epoch_1.pth"), "--input", str(image)]
    assert main([*infer, "--out", str(out), "--bbox", "63", "92", "162", "286"]) == 0, capsys.readouterr().err
    record = json.loads(next(out.rglob("*.json")).read_text())
    (person,) = record["instances"]
    keypoints = np.asarray(person["keypoints"])
    assert keypoints.shape == (42, 3) and np.isfinite(keypoints).all()
    assert next(out.rglob("*.jpg"), None) is not None or next(out.rglob("*.png"), None) is not None
