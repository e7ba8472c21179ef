"""Lite-HRNet, naive Lite-HRNet and HRFormer against MMPose 1.3.2: its checkpoints load strictly and give its
outputs (``fixtures/<case>``, written by ``fixtures/generate.py`` with MMPose's own Python; 1e-4 of the largest
output, eager and BatchNorm-folded), and every MMPose config naming LiteHRNet or HRFormer converts, checks and
builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from posekit_testing.configs import convert_and_check, mmpose_configs
from posekit_testing.reference import assert_backbone_matches_mmpose, assert_head_matches_mmpose

import posekit

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "checkpoint.pth").is_file())
FAMILIES = {"LiteHRNet": 7, "HRFormer": 4}  # MMPose's configs naming each


def test_cases_found() -> None:
    expected = ["hrformer-padmask-norpe", "hrformer-small", "litehrnet18", "naive-litehrnet18"]
    assert CASES == expected, f"{FIXTURES}: {CASES}"


@pytest.mark.parametrize("optimized", [False, True], ids=["eager", "fused-channels_last"])
@pytest.mark.parametrize("case", CASES)
def test_matches_mmpose(case: str, optimized: bool) -> None:
    assert_backbone_matches_mmpose(FIXTURES / case, optimized)  # strict: every backbone key, no other
    assert_head_matches_mmpose(FIXTURES / case, ("heatmaps",))


def _configs() -> dict[str, list[Path]]:
    return {family: mmpose_configs(f"type='{family}'") for family in FAMILIES}


CONFIGS = _configs()


def test_configs_found() -> None:
    assert {family: len(paths) for family, paths in CONFIGS.items()} == FAMILIES


@pytest.mark.parametrize("path", [p for paths in CONFIGS.values() for p in paths], ids=lambda p: p.stem)
def test_mmpose_config_converts_checks_and_builds(path: Path, tmp_path: Path) -> None:
    model = posekit.init_model(convert_and_check(path, tmp_path), optimize=False)
    with torch.no_grad():
        (feat,) = model.backbone(torch.zeros(1, 3, 32, 32))
    assert feat.shape == (1, model.head.in_channels, 8, 8)
