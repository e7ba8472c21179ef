"""Lite-HRNet, naive Lite-HRNet and HRFormer against MMPose 1.3.2: its checkpoints load strictly and give its
outputs (``fixtures/<case>``, written by ``fixtures/generate.py`` with MMPose's own Python; 1e-4 of the largest
output, eager and BatchNorm-folded), and every MMPose config naming LiteHRNet or HRFormer converts, checks and
builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import posekit

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "checkpoint.pth").is_file())
FAMILIES = {"LiteHRNet": 7, "HRFormer": 4}  # MMPose's configs naming each


def test_cases_found() -> None:
    expected = ["hrformer-padmask-norpe", "hrformer-small", "litehrnet18", "naive-litehrnet18"]
    assert CASES == expected, f"{FIXTURES}: {CASES}"


@pytest.mark.parametrize("optimized", [False, True], ids=["eager", "fused-channels_last"])
@pytest.mark.parametrize("case", CASES)
def test_matches_mmpose(posekit_reference: Any, case: str, optimized: bool) -> None:
    posekit_reference.assert_backbone_matches_mmpose(FIXTURES / case, optimized)  # strict: every backbone key, no other
    posekit_reference.assert_head_matches_mmpose(FIXTURES / case, ("heatmaps",))


MMPOSE_CONFIGS = pytest.mark.mmpose_configs(*(f"type='{family}'" for family in FAMILIES))


def test_configs_found(posekit_configs: Any) -> None:
    found = {family: len(posekit_configs.mmpose_configs(f"type='{family}'")) for family in FAMILIES}
    assert found == FAMILIES


@MMPOSE_CONFIGS
def test_mmpose_config_converts_checks_and_builds(posekit_configs: Any, mmpose_config: Path, tmp_path: Path) -> None:
    model = posekit.init_model(posekit_configs.convert_and_check(mmpose_config, tmp_path), optimize=False)
    with torch.no_grad():
        (feat,) = model.backbone(torch.zeros(1, 3, 32, 32))
    assert feat.shape == (1, model.head.in_channels, 8, 8)
