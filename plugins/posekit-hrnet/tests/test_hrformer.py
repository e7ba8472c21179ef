"""HRFormer: MMPose 1.3.2 checkpoints load strictly and give MMPose's outputs (``fixtures/hrformer-*``, written by
``fixtures/generate.py`` with MMPose's own Python; 1e-4 of the largest output), MMPose's 4 HRFormer configs
convert, check and build, the conformance kit passes, and a tiny one trains a step and runs through
``posekit infer``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from posekit_hrnet.hrformer import HRFormer

import posekit
from posekit.cli import main
from posekit.errors import ConfigError
from posekit.registry import build
from posekit.testing.reference import assert_backbone_matches_mmpose, assert_head_matches_mmpose

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.glob("hrformer-*") if (p / "checkpoint.pth").is_file())
TINY_EXTRA: dict[str, Any] = copy.deepcopy(HRFormer.example_config["extra"])


def _extra(stage: str, **changes: Any) -> dict[str, Any]:
    extra = copy.deepcopy(TINY_EXTRA)
    extra[stage].update(changes)
    return extra


def test_cases_found() -> None:
    assert CASES == ["hrformer-padmask-norpe", "hrformer-small"], f"{FIXTURES}: {CASES}"


@pytest.mark.parametrize("optimized", [False, True], ids=["eager", "fused-channels_last"])
@pytest.mark.parametrize("case", CASES)
def test_matches_mmpose(case: str, optimized: bool) -> None:
    assert_backbone_matches_mmpose(FIXTURES / case, optimized)  # strict: every backbone key, no other
    assert_head_matches_mmpose(FIXTURES / case, ("heatmaps",))


def _configs() -> list[Path]:
    root = Path(__file__).resolve().parents[3].parent / "shared" / "mmpose-configs"
    return sorted(p for p in root.rglob("*.py") if "type='HRFormer'" in p.read_text())


CONFIGS = _configs()


def test_configs_found() -> None:
    assert len(CONFIGS) >= 4, f"expected MMPose's 4 configs naming HRFormer, found {len(CONFIGS)}"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_mmpose_config_converts_checks_and_builds(path: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{path.stem}.yaml"
    assert main(["convert", "mmpose-config", str(path), "-o", str(out)]) == 0
    assert main(["config", "check", str(out)]) == 0
    model = posekit.init_model(out)  # (a forward of HRFormer-base takes long here; the fixtures check outputs)
    assert model.backbone.extra.stage4.num_channels[0] == model.head.in_channels


def test_one_training_step_then_posekit_infer(posekit_check: Any, tmp_path: Path) -> None:
    codec = {"type": "MSRAHeatmap", "input_size": (64, 64), "heatmap_size": (16, 16), "sigma": 2.0}
    head = {"type": "HeatmapHead", "in_channels": 8, "out_channels": 17, "deconv_out_channels": None}
    cfg = {"type": "TopdownPoseEstimator", "backbone": {"type": "HRFormer", "extra": TINY_EXTRA}}
    posekit_check.train_then_infer({**cfg, "head": {**head, "decoder": codec}}, tmp_path)


@pytest.mark.parametrize(
    "cfg",
    [
        {"extra": TINY_EXTRA},
        {"extra": {**_extra("stage4", multiscale_output=True), "with_pad_mask": True}, "norm_eval": True},
        {"extra": {**TINY_EXTRA, "with_rpe": False}, "frozen_stages": 2, "zero_init_residual": True},
    ],
    ids=["example", "multiscale-padmask", "no-rpe-frozen"],
)
def test_conformance(posekit_check: Any, cfg: dict[str, Any]) -> None:
    # 64x32: the 4x4 windows overhang the 2x1 map of branch 3 (padded, masked with with_pad_mask)
    model = posekit_check.backbone({"type": "HRFormer", **cfg}, input_shape=(2, 3, 64, 32))
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 64, 32))
    multiscale = cfg["extra"]["stage4"].get("multiscale_output", False)
    expected = [(1, 8 * 2**i, 16 // 2**i, 8 // 2**i) for i in range(4 if multiscale else 1)]
    assert [tuple(o.shape) for o in out] == expected


def test_drop_path_rises_over_stages() -> None:
    model = build("backbone", {"type": "HRFormer", "extra": TINY_EXTRA})
    rates = [model.stage2[0].branches[0][0].drop_path, model.stage4[0].branches[3][0].drop_path]
    assert isinstance(rates[0], torch.nn.Identity)  # rate 0: no module, as mmcv builds none
    assert rates[1].drop_prob == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (_extra("stage2", block="BOTTLENECK"), "stage2.block must be 'HRFORMERBLOCK'"),
        (_extra("stage1", block="HRFORMERBLOCK"), "stage1.block must be 'BOTTLENECK'"),
        (_extra("stage3", num_heads=(1, 2)), r"stage3\.num_heads \(1, 2\) needs one entry per branch"),
        (_extra("stage4", num_heads=(1, 2, 4, 7)), "num_channels 64 is not divisible by num_heads 7"),
        (_extra("stage2", block="BASIC"), r"extra\.stage2\.block"),
    ],
)
def test_bad_extra_is_named(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", {"type": "HRFormer", "extra": extra})
