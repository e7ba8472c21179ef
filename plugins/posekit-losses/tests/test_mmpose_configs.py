"""The loss dicts MMPose's configs (``../shared/mmpose-configs``) write build as written, and the configs
whose other components posekit has build whole with ``posekit.init_model``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

import posekit
from posekit.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[3].parent / "shared" / "mmpose-configs"

#: as MMPose's configs write them (RTMO, CID, IPR/DSNT, MotionBERT, semi-supervised VideoPose3D)
LOSS_DICTS: list[dict[str, Any]] = [
    {"type": "MLECCLoss", "use_target_weight": True, "loss_weight": 1e-2},
    {"type": "BCELoss", "reduction": "sum", "loss_weight": 1.0},
    {"type": "BCELoss", "use_target_weight": True, "reduction": "mean", "loss_weight": 1.0},
    {"type": "VariFocalLoss", "reduction": "sum", "use_target_weight": True, "loss_weight": 1.0},
    {"type": "OKSLoss", "reduction": "none", "metainfo": "coco", "norm_target_weight": True, "loss_weight": 30.0},
    {"type": "FocalHeatmapLoss", "loss_weight": 4.0},
    {"type": "InfoNCELoss", "temperature": 0.05, "loss_weight": 1.0},
    {
        "type": "MultipleLossWrapper",
        "losses": [
            {"type": "SmoothL1Loss", "use_target_weight": True},
            {"type": "JSDiscretLoss", "use_target_weight": True},
        ],
    },
    {
        "type": "MultipleLossWrapper",
        "losses": [
            {"type": "SmoothL1Loss", "use_target_weight": True},
            {"type": "KeypointMSELoss", "use_target_weight": True},
        ],
    },
    {"type": "MPJPEVelocityJointLoss"},
    {
        "type": "SemiSupervisionLoss",
        "joint_parents": [0, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15],
        "warmup_iterations": 1311376 // 64 // 8 * 5,
    },
]


@pytest.mark.parametrize("cfg", LOSS_DICTS, ids=[f"{i}-{c['type']}" for i, c in enumerate(LOSS_DICTS)])
def test_mmpose_loss_dict_builds(cfg: dict[str, Any]) -> None:
    loss = posekit.build("loss", copy.deepcopy(cfg))
    assert isinstance(loss, torch.nn.Module)


def test_oks_sigmas_come_from_the_definition() -> None:
    loss = posekit.build("loss", {"type": "OKSLoss", "metainfo": "coco"})
    assert loss.sigmas.shape == (17,)


def test_oks_refuses_a_python_definition_file() -> None:
    # MMPose's configs name 'configs/_base_/datasets/coco.py'; posekit never runs config code
    with pytest.raises(ConfigError, match="Python file"):
        posekit.build("loss", {"type": "OKSLoss", "metainfo": "configs/_base_/datasets/coco.py"})


WHOLE = [
    "face_2d_keypoint/topdown_regression/wflw/td-reg_res50_wingloss_8xb64-210e_wflw-256x256.py",
    "face_2d_keypoint/topdown_regression/wflw/td-reg_res50_softwingloss_8xb64-210e_wflw-256x256.py",
    "face_2d_keypoint/topdown_heatmap/wflw/td-hm_hrnetv2-w18_awing-8xb64-60e_wflw-256x256.py",
    "body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_udp-regress-8xb64-210e_coco-256x192.py",
    "body_3d_keypoint/image_pose_lift/h36m/image-pose-lift_tcn_8xb64-200e_h36m.py",
]


@pytest.mark.parametrize("rel", WHOLE, ids=[Path(r).stem for r in WHOLE])
def test_mmpose_config_builds(rel: str) -> None:
    model = posekit.init_model(CONFIGS / rel)
    expected = next(
        n
        for n in ("SoftWingLoss", "WingLoss", "AdaptiveWingLoss", "CombinedTargetMSELoss", "MSELoss")
        if f"type='{n}'" in (CONFIGS / rel).read_text()
    )
    assert type(model.head.loss_module).__name__ == expected
