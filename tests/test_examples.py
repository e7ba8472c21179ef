"""Every shipped example config validates against the installed components."""

from __future__ import annotations

from pathlib import Path

import pytest

from posekit.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "examples" / "configs").glob("*.yaml"))


def test_there_are_example_configs() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"synthetic_rtmpose", "synthetic_bottomup", "synthetic_lifting"} <= names
    assert {"rtmpose-m_coco-256x192", "hrnet-w32_coco-256x192", "simplebaseline_res50_coco-256x192"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_example_config_validates(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.model["type"] in {"TopdownPoseEstimator", "BottomupPoseEstimator", "PoseLifter"}
    assert cfg.evaluator, f"{path.name} has no evaluator"
