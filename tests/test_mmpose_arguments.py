"""Arguments MMPose's configs write that posekit used to refuse, and RandomFlip's ``img_mask`` against MMPose.

``fixtures/mmpose/RandomFlip-img_mask.npz`` was written by MMPose 1.3.2's ``RandomFlip(prob=1.0)``
(``benchmarks/fixtures/gen_fidelity.py --only transforms``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from posekit.config.schema import DataSplit
from posekit.errors import CheckpointError
from posekit.registry import build, validate
from posekit.structures import PoseSample

FIXTURES = Path(__file__).parent / "fixtures" / "mmpose"


def test_random_flip_flips_img_mask_as_mmpose() -> None:
    z = np.load(FIXTURES / "RandomFlip-img_mask.npz", allow_pickle=False)
    sample = PoseSample(
        img=z["in_img"].copy(),
        img_shape=z["in_img"].shape[:2],
        img_mask=z["in_img_mask"].copy(),
        keypoints=z["in_keypoints"].copy(),
        keypoints_visible=np.ones(z["in_keypoints"].shape[:2], np.float32),
        bbox=z["in_bbox"].copy(),
        flip_indices=z["in_flip_indices"].tolist(),
        rng=np.random.default_rng(0),
    )
    out = build("transform", {"type": "RandomFlip", "prob": 1.0})(sample)
    for key in ("img", "img_mask", "keypoints", "bbox"):
        np.testing.assert_array_equal(getattr(out, key), z[f"out_{key}"], err_msg=f"RandomFlip-img_mask.npz: {key}")
    assert out.img_mask.dtype == np.bool_


@pytest.mark.parametrize(
    ("kind", "cfg"),
    [
        ("transform", {"type": "BottomupRandomAffine", "input_size": (640, 640), "bbox_keep_corner": False}),
        (
            "dataset",
            {"type": "CocoDataset", "ann_file": "x.json", "filter_cfg": {"filter_empty_gt": False, "min_size": 32}},
        ),
    ],
)
def test_mmpose_arguments_validate(kind: str, cfg: dict) -> None:
    validate(kind, cfg)


def test_dataloader_pin_memory() -> None:
    assert DataSplit.model_validate({"dataset": {"type": "CocoDataset"}, "pin_memory": False}).pin_memory is False
    assert DataSplit.model_validate({"dataset": {"type": "CocoDataset"}}).pin_memory is None  # on CUDA only


def test_estimator_metainfo_from_file() -> None:
    from posekit.inference.pipeline import dataset_meta

    model = build(
        "estimator",
        {
            "type": "TopdownPoseEstimator",
            "backbone": {"type": "ResNet", "depth": 18},
            "head": {"type": "HeatmapHead", "in_channels": 512, "out_channels": 14},
            "metainfo": {"from_file": "configs/_base_/datasets/crowdpose.py"},
        },
    )
    assert dataset_meta(model)["num_keypoints"] == 14


def test_model_zoo_init_cfg_is_resolved_by_init_weights() -> None:
    cfg = {"type": "ResNet", "depth": 18, "init_cfg": {"type": "Pretrained", "checkpoint": "torchvision://resnet18"}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backbone = build("backbone", cfg)
    assert any("torchvision://resnet18" in str(w.message) for w in caught)
    with pytest.raises(CheckpointError, match=r"torchvision://resnet18.*local \.pth"):
        backbone.init_weights()
