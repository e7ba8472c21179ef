"""KeypointConverter against MMPose 1.3.2; CombinedDataset on the shared COCO and CrowdPose samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posekit.errors import ConfigError
from posekit.registry import build
from posekit.structures import PoseSample

FIXTURES = Path(__file__).parent / "fixtures"
CONVERTER_CASES = json.loads((FIXTURES / "transforms.json").read_text())["KeypointConverter"]

#: CrowdPose -> COCO, as RTMPose's body7 configs write it
CROWDPOSE_TO_COCO = [(i, i + 5) for i in range(12)]


@pytest.mark.parametrize("case", CONVERTER_CASES, ids=[c["name"] for c in CONVERTER_CASES])
def test_keypoint_converter_matches_mmpose(case: dict[str, Any]) -> None:
    converter = build(
        "transform", {"type": "KeypointConverter", "num_keypoints": case["num_keypoints"], "mapping": case["mapping"]}
    )
    sample = PoseSample(
        keypoints=np.asarray(case["in"]["keypoints"], np.float32),
        keypoints_visible=np.asarray(case["in"]["keypoints_visible"], np.float32),
        flip_indices=list(case["in"]["flip_indices"]),
    )
    out = converter(sample)
    ref_visible = np.asarray(case["out"]["keypoints_visible"])  # MMPose stacks (visible, weight) on the last axis
    np.testing.assert_array_equal(out.keypoints, np.asarray(case["out"]["keypoints"]))
    np.testing.assert_array_equal(out.keypoints_visible, ref_visible[..., 0])
    np.testing.assert_array_equal(out.extra["keypoints_visible_weights"], ref_visible[..., 1])
    assert out.flip_indices == case["out"]["flip_indices"]


def test_keypoint_converter_checks_indices() -> None:
    with pytest.raises(ConfigError, match=r"target indices \[17\]"):
        build("transform", {"type": "KeypointConverter", "num_keypoints": 17, "mapping": [(0, 17)]})


def _combined(shared: Path, **kwargs: Any) -> Any:
    return build(
        "dataset",
        {
            "type": "CombinedDataset",
            "metainfo": {"from_file": "configs/_base_/datasets/coco.py"},
            "datasets": [
                {
                    "type": "CocoDataset",
                    "ann_file": str(shared / "data/coco/test_coco.json"),
                    "data_prefix": {"img": str(shared / "data/coco")},
                    "pipeline": [
                        {"type": "KeypointConverter", "num_keypoints": 17, "mapping": [(i, i) for i in range(17)]}
                    ],
                },
                {
                    "type": "CrowdPoseDataset",
                    "ann_file": str(shared / "data/crowdpose/test_crowdpose.json"),
                    "data_prefix": {"img": str(shared / "data/crowdpose")},
                    "pipeline": [{"type": "KeypointConverter", "num_keypoints": 17, "mapping": CROWDPOSE_TO_COCO}],
                },
            ],
            **kwargs,
        },
    )


def test_combined_dataset_concatenates_in_the_combined_layout(shared: Path) -> None:
    combined = _combined(shared, pipeline=[{"type": "LoadImage"}, {"type": "GetBBoxCenterScale"}])
    coco, crowd = combined.datasets
    assert len(combined) == len(coco) + len(crowd)
    assert combined.metainfo.dataset_name == "coco"
    last = combined[len(combined) - 1]  # the last CrowdPose person, its 14 keypoints moved onto COCO's 17
    assert last.keypoints.shape == (1, 17, 2) and last.img is not None
    raw = crowd.get_data_info(len(crowd) - 1)
    for src, dst in CROWDPOSE_TO_COCO:
        np.testing.assert_array_equal(last.keypoints[0, dst], raw.keypoints[0, src])
    assert not last.keypoints_visible[0, :5].any()  # COCO's face keypoints: not in CrowdPose
    assert last.flip_indices == list(combined.metainfo.flip_indices)
    np.testing.assert_array_equal(last.dataset_keypoint_weights, np.float32(combined.metainfo.joint_weights))


def test_combined_dataset_resamples_by_ratio_and_seeds(shared: Path) -> None:
    combined = _combined(shared, sample_ratio_factor=[0.5, 2.0], seed=3)
    coco, crowd = combined.datasets
    assert len(combined) == int(len(coco) * 0.5) + int(len(crowd) * 2.0)
    assert crowd.seed == 3  # the run's seed reaches every member
    first = [combined.subset_index(i) for i in range(len(combined))]
    assert first == [combined.subset_index(i) for i in range(len(combined))]  # same epoch, same draw
    assert {m for m, _ in first} == {0, 1}
    combined.set_epoch(1)
    assert crowd.epoch == 1


def test_combined_dataset_checks_ratios(shared: Path) -> None:
    with pytest.raises(ConfigError, match="sample_ratio_factor"):
        _combined(shared, sample_ratio_factor=[1.0])


def test_repeat_dataset(shared: Path) -> None:
    inner = {"type": "CrowdPoseDataset", "ann_file": str(shared / "data/crowdpose/test_crowdpose.json")}
    repeated = build("dataset", {"type": "RepeatDataset", "dataset": inner, "times": 3})
    n = len(repeated.dataset)
    assert len(repeated) == 3 * n and repeated.metainfo.dataset_name == "crowdpose"
    assert repeated[n + 1].id == repeated.dataset[1].id
    repeated.seed = 5
    assert repeated.dataset.seed == 5
    with pytest.raises(ConfigError, match="times"):
        build("dataset", {"type": "RepeatDataset", "dataset": inner, "times": 0})
