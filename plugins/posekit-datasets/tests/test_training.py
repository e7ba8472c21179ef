"""Two training iterations and a test pass of RTMPose's body7 recipe shape on the shared samples.

COCO and CrowdPose combined into COCO's layout (KeypointConverter, resampled), RTMPose's Albumentation
step, and a KeypointPartitionMetric over CocoMetric: ``posekit train`` then ``posekit test``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from posekit.cli import main

pytest.importorskip("albumentations", reason="the albumentations extra of posekit-datasets")

CODEC = {"type": "SimCCLabel", "input_size": [48, 64], "sigma": [2.0, 2.0], "simcc_split_ratio": 2.0}


def _to_coco(data: Path, dataset: str, name: str, mapping: list[list[int]]) -> dict[str, Any]:
    """``dataset`` on ``data/<name>/test_<name>.json``, its keypoints mapped (source, COCO index) to COCO's 17."""
    return {
        "type": dataset,
        "ann_file": str(data / name / f"test_{name}.json"),
        "data_prefix": {"img": str(data / name)},
        "pipeline": [{"type": "KeypointConverter", "num_keypoints": 17, "mapping": mapping}],
    }


def _config(shared: Path, work_dir: Path) -> dict:
    data = shared / "data"
    test_pipeline = [
        {"type": "LoadImage"},
        {"type": "GetBBoxCenterScale"},
        {"type": "TopdownAffine", "input_size": [48, 64]},
        {"type": "PackPoseInputs"},
    ]
    return {
        "work_dir": str(work_dir),
        "model": {
            "type": "TopdownPoseEstimator",
            "metainfo": {"from_file": "configs/_base_/datasets/coco.py"},
            "backbone": {
                "type": "CSPNeXt",
                "arch": "P5",
                "deepen_factor": 0.167,
                "widen_factor": 0.125,
                "out_indices": [4],
            },
            "head": {
                "type": "RTMCCHead",
                "in_channels": 128,
                "out_channels": 17,
                "input_size": [48, 64],
                "in_featuremap_size": [2, 2],
                "gau_cfg": {"hidden_dims": 32, "s": 16},
                "loss": {"type": "KLDiscretLoss", "use_target_weight": True},
                "decoder": CODEC,
            },
        },
        "data": {
            "train": {
                "batch_size": 4,
                "num_workers": 0,
                "pin_memory": False,
                "dataset": {
                    "type": "CombinedDataset",
                    "metainfo": {"from_file": "configs/_base_/datasets/coco.py"},
                    "sample_ratio_factor": [1.0, 0.5],
                    "datasets": [
                        _to_coco(data, "CocoDataset", "coco", [[i, i] for i in range(17)]),
                        _to_coco(data, "CrowdPoseDataset", "crowdpose", [[i, i + 5] for i in range(12)]),
                    ],
                    "pipeline": [
                        {"type": "LoadImage"},
                        {"type": "GetBBoxCenterScale"},
                        {"type": "RandomFlip"},
                        {
                            "type": "Albumentation",
                            "transforms": [
                                {"type": "Blur", "p": 0.1},
                                {"type": "CoarseDropout", "max_holes": 1, "p": 1.0},
                            ],
                        },
                        {"type": "TopdownAffine", "input_size": [48, 64]},
                        {"type": "GenerateTarget", "encoder": CODEC},
                        {"type": "PackPoseInputs"},
                    ],
                },
            },
            "test": {
                "batch_size": 4,
                "num_workers": 0,
                "dataset": {
                    "type": "CocoDataset",
                    "ann_file": str(data / "coco/test_coco.json"),
                    "data_prefix": {"img": str(data / "coco")},
                    "test_mode": True,
                    "pipeline": test_pipeline,
                },
            },
        },
        "evaluator": [
            {
                "type": "KeypointPartitionMetric",
                "metric": {"type": "CocoMetric"},
                "partitions": {"face": [0, 1, 2, 3, 4], "body": list(range(5, 17))},
            }
        ],
        "train": {"epochs": 1, "max_iters": 2, "progress": False},
    }


def test_combined_training_and_partition_test(shared: Path, tmp_path: Path) -> None:
    path = tmp_path / "body2.yaml"
    path.write_text(yaml.safe_dump(_config(shared, tmp_path / "work")))
    assert main(["train", str(path)]) == 0
    checkpoint = tmp_path / "work" / "iter_2.pth"
    assert checkpoint.is_file()
    out = tmp_path / "metrics.json"
    assert main(["test", str(path), "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert {"face/coco/AP", "body/coco/AP"} <= set(metrics)
