"""CocoWholeBodyMetric, MpiiPCKAccuracy, JhmdbPCKAccuracy and KeypointPartitionMetric against MMPose 1.3.2.

``fixtures/metrics.json`` (``benchmarks/fixtures/gen_fidelity.py --only metrics``) holds the inputs each
MMPose metric processed and the values it returned; COCO-WholeBody also holds the per-part stats MMPose
prints (recorded from xtcocotools' ``summarize``). AP/AR must be equal; PCK values 1e-9 relative.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from posekit_datasets.cocoeval import COCO_STATS

from posekit.errors import ConfigError, DataError
from posekit.registry import build
from posekit.structures import PoseResult, PoseSample

FIXTURES = Path(__file__).parent / "fixtures"
REF = json.loads((FIXTURES / "metrics.json").read_text())
PART_NAMES = {
    "keypoints_body": "body",
    "keypoints_foot": "foot",
    "keypoints_face": "face",
    "keypoints_lefthand": "lefthand",
    "keypoints_righthand": "righthand",
}


def _pck_results(inputs: dict[str, Any]) -> list[PoseResult]:
    gt, pred = np.asarray(inputs["gt"], np.float32), np.asarray(inputs["pred"], np.float32)
    visible, bboxes = np.asarray(inputs["visible"], np.float32), np.asarray(inputs["bboxes"], np.float32)
    head = np.asarray(inputs["head_size"], np.float32)
    results = []
    for i in range(len(gt)):
        sample = PoseSample(
            img_id=i,
            id=i,
            keypoints=gt[i : i + 1],
            keypoints_visible=visible[i : i + 1],
            bbox=bboxes[i : i + 1],
            extra={"head_size": head[i : i + 1]},
        )
        results.append(
            PoseResult(
                keypoints=pred[i : i + 1],
                keypoint_scores=np.ones((1, gt.shape[1]), np.float32),
                bboxes=bboxes[i : i + 1],
                bbox_scores=np.ones(1, np.float32),
                sample=sample,
            )
        )
    return results


@pytest.mark.parametrize("name", ["MpiiPCKAccuracy", "JhmdbPCKAccuracy"])
def test_pck_reports_match_mmpose(name: str) -> None:
    case = REF[name]
    metric = build("metric", {"type": name, **case["kwargs"]})
    metric.process(_pck_results(case["inputs"]))
    got = metric.evaluate()
    assert set(got) == set(case["metrics"])
    for key, value in case["metrics"].items():
        assert got[key] == pytest.approx(value, rel=1e-9), f"metrics.json {name}: {key}"


def test_partition_metric_matches_mmpose() -> None:
    case = REF["KeypointPartitionMetric"]
    metric = build("metric", {"type": "KeypointPartitionMetric", **case["kwargs"]})
    metric.set_dataset_meta("coco")
    metric.process(_pck_results(case["inputs"]))
    got = metric.evaluate()
    assert got == pytest.approx(case["metrics"], rel=1e-9)


def test_partition_metric_cuts_coco_sigmas(shared: Path) -> None:
    """A wrapped CocoMetric evaluates each partition with its own sigmas on the samples' ground truth."""
    dataset = build("dataset", {"type": "CocoDataset", "ann_file": str(shared / "data/coco/test_coco.json")})
    metric = build(
        "metric",
        {
            "type": "KeypointPartitionMetric",
            "metric": {"type": "CocoMetric"},
            "partitions": {"face": [0, 1, 2, 3, 4], "body": list(range(5, 17))},
        },
    )
    metric.dataset_meta = dataset.metainfo
    assert metric.metrics["face"]._sigmas()[0].tolist() == pytest.approx(list(dataset.metainfo.sigmas[:5]))
    samples = [dataset.get_data_info(i) for i in range(len(dataset))]
    for s in samples:
        s.bbox_scale = (s.bbox[:, 2:] - s.bbox[:, :2]) * 1.25
    metric.process(
        [PoseResult(s.keypoints, np.ones((1, 17), np.float32), s.bbox, np.ones(1, np.float32), s) for s in samples]
    )
    got = metric.evaluate()
    assert got["face/coco/AP"] == 1.0 and got["body/coco/AP"] == 1.0  # perfect predictions


def test_partition_metric_refuses_other_metrics() -> None:
    with pytest.raises(ConfigError, match="metric must be one of"):
        build("metric", {"type": "KeypointPartitionMetric", "metric": {"type": "MPJPE"}, "partitions": {"a": [0]}})


def _wholebody_results(shared: Path) -> tuple[Any, list[PoseResult]]:
    case = REF["CocoWholeBodyMetric"]
    dataset = build(
        "dataset", {"type": "CocoWholeBodyDataset", "ann_file": str(shared / case["ann_file"]), "test_mode": True}
    )
    preds = {p["id"]: p for p in case["predictions"]}
    results = []
    for i in range(len(dataset)):
        sample = dataset.get_data_info(i)
        pred = preds[sample.id]
        sample.bbox_scale = np.asarray(pred["bbox_scale"], np.float32)
        results.append(
            PoseResult(
                keypoints=np.asarray(pred["keypoints"], np.float32),
                keypoint_scores=np.asarray(pred["keypoint_scores"], np.float32),
                bboxes=np.zeros((0, 4), np.float32),
                bbox_scores=np.ones(1, np.float32),
                sample=sample,
            )
        )
    assert len(results) == len(preds)
    return dataset, results


def test_wholebody_metric_matches_mmpose(shared: Path) -> None:
    case = REF["CocoWholeBodyMetric"]
    dataset, results = _wholebody_results(shared)
    metric = build("metric", {"type": "CocoWholeBodyMetric", "ann_file": str(shared / case["ann_file"])})
    metric.dataset_meta = dataset.metainfo
    metric.process(results)
    got = metric.evaluate()
    for key, value in case["metrics"].items():
        assert got[key] == value, f"metrics.json CocoWholeBodyMetric: {key}"
    for iou_type, stats in case["part_stats"]:
        part = PART_NAMES.get(iou_type)
        if part is None:
            continue
        for stat, value in zip(COCO_STATS, stats, strict=True):
            assert got[f"coco-wholebody/{part}/{stat}"] == value, f"metrics.json CocoWholeBodyMetric: {part} {stat}"


def test_wholebody_metric_refuses_a_body_only_file(shared: Path) -> None:
    dataset, results = _wholebody_results(shared)
    metric = build("metric", {"type": "CocoWholeBodyMetric", "ann_file": str(shared / "data/coco/test_coco.json")})
    metric.dataset_meta = dataset.metainfo
    with pytest.raises(DataError, match="foot_kpts"):
        metric.process(results)
