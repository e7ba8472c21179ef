"""SEResNet, ResNeXt, ResNeSt, SCNet, ViPNAS_ResNet: MMPose 1.3.2 checkpoints load strictly and give MMPose's outputs
(``fixtures/<case>``, written by ``fixtures/generate.py`` with MMPose's own Python; 1e-4 of the largest
output), every MMPose config naming them converts, checks and builds, and one model per family
trains a step and runs through ``posekit infer``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import posekit
from posekit.cli import main
from posekit.errors import ConfigError
from posekit.registry import build

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "checkpoint.pth").is_file())
FAMILIES = ("SEResNet", "ResNeXt", "ResNeSt", "SCNet", "ViPNAS_ResNet")
HEADS = set(posekit.list_components("head")["head"])


def test_every_family_has_a_case(posekit_reference: Any) -> None:
    kinds = {posekit_reference.mmpose_backbone_config(FIXTURES / c)["type"] for c in CASES}
    assert kinds == set(FAMILIES), f"{FIXTURES}: cases of {sorted(kinds)}, expected {FAMILIES}"


@pytest.mark.parametrize("optimized", [False, True], ids=["eager", "fused-channels_last"])
@pytest.mark.parametrize("case", CASES)
def test_matches_mmpose(posekit_reference: Any, case: str, optimized: bool) -> None:
    posekit_reference.assert_backbone_matches_mmpose(FIXTURES / case, optimized)  # strict: every backbone key, no other
    posekit_reference.assert_head_matches_mmpose(FIXTURES / case, ("heatmaps",))


def _configs() -> list[Path]:
    root = Path(__file__).resolve().parents[3].parent / "shared" / "mmpose-configs"
    needles = tuple(f"type='{f}'" for f in FAMILIES)
    return sorted(p for p in root.rglob("*.py") if any(n in p.read_text() for n in needles))


ALL_CONFIGS = _configs()
#: the ViPNAS configs' head, ViPNASHead, is another distribution's: they build once it is installed
CONFIGS = [p for p in ALL_CONFIGS if "ViPNASHead" in HEADS or "type='ViPNASHead'" not in p.read_text()]


def test_configs_found() -> None:
    assert len(ALL_CONFIGS) >= 35, f"expected MMPose's 35 configs naming {FAMILIES}, found {len(ALL_CONFIGS)}"
    assert len(ALL_CONFIGS) - len(CONFIGS) <= 3, "only the ViPNASHead configs may wait for their head"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_mmpose_config_converts_checks_and_builds(path: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{path.stem}.yaml"
    assert main(["convert", "mmpose-config", str(path), "-o", str(out)]) == 0
    assert main(["config", "check", str(out)]) == 0
    with torch.device("meta"):  # shapes only: ResNeSt-269 has 110M parameters
        model = posekit.init_model(out, device="meta")
    assert type(model.backbone).__name__ in FAMILIES and f"type='{type(model.backbone).__name__}'" in path.read_text()


CODEC = {"type": "MSRAHeatmap", "input_size": (64, 64), "heatmap_size": (16, 16), "sigma": 2.0}
#: two stages: the output at stride 8, 32 channels
TINY = {"depth": 50, "stem_channels": 8, "base_channels": 4, "num_stages": 2, "strides": (1, 2), "dilations": (1, 1)}
TINY |= {"out_indices": (1,)}
VIPNAS = {"depth": 50, "wid": (8, 8, 32), "dep": (None, 1, 1), "group": (None, 2, 2), "att": (None, True, True)}
VIPNAS |= {"num_stages": 2, "strides": (1, 2), "dilations": (1, 1), "out_indices": (1,)}


@pytest.mark.parametrize(
    "backbone",
    [
        {"type": "SEResNet", **TINY, "se_ratio": 4},
        {"type": "ResNeXt", **TINY, "groups": 2, "width_per_group": 2},
        {"type": "ResNeSt", **TINY, "groups": 2},
        {"type": "SCNet", **TINY},
        {"type": "ViPNAS_ResNet", **VIPNAS},
    ],
    ids=lambda b: b["type"],
)
def test_one_training_step_then_posekit_infer(posekit_check: Any, backbone: dict[str, Any], tmp_path: Path) -> None:
    head = {"type": "HeatmapHead", "in_channels": 32, "out_channels": 17, "deconv_out_channels": (16,)}
    head |= {"deconv_kernel_sizes": (4,), "decoder": CODEC}
    posekit_check.train_then_infer({"type": "TopdownPoseEstimator", "backbone": backbone, "head": head}, tmp_path)


@pytest.mark.parametrize(
    "cfg",
    [
        {"type": "SEResNet", **TINY, "out_indices": (0, 1), "with_cp": True, "frozen_stages": 1},
        {"type": "ResNeXt", **TINY, "style": "caffe", "deep_stem": True, "avg_down": True},
        {"type": "ResNeSt", **TINY, "radix": 1, "avg_down_stride": False},
        {"type": "ResNeSt", **TINY, "style": "caffe", "groups": 2, "width_per_group": 2},
        {"type": "SCNet", **TINY, "norm_cfg": {"type": "GN", "num_groups": 2}, "with_cp": True},
        {"type": "ViPNAS_ResNet", **VIPNAS, "deep_stem": True, "avg_down": True, "expan": (None, 2, 1)},
    ],
    ids=["seresnet-cp", "resnext-caffe-v1d", "resnest-radix1", "resnest-caffe-groups", "scnet-gn-cp", "vipnas-v1d"],
)
def test_conformance(posekit_check: Any, cfg: dict[str, Any]) -> None:
    posekit_check.backbone(cfg, input_shape=(2, 3, 128, 128))


def test_resnest_radix_one_is_sigmoid_attention() -> None:
    """With one split the attention is a per-channel sigmoid gate, as MMPose's RSoftmax."""
    model = build("backbone", {"type": "ResNeSt", **TINY, "radix": 1}).eval()
    conv = model.layer1[0].conv2
    assert conv.conv.out_channels == conv.fc2.out_channels == 4
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        y = torch.relu(conv.norm0(conv.conv(x)))
        gate = torch.sigmoid(conv.fc2(torch.relu(conv.norm1(conv.fc1(y.mean((2, 3), keepdim=True))))))
        torch.testing.assert_close(conv(x), y * gate)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"type": "SEResNet", "depth": 18}, "depth"),
        ({"type": "SCNet", "depth": 152}, "depth"),
        ({"type": "ResNeXt", "depth": 50, "groups": 0}, r"ResNeXt: groups \(0\)"),
        ({"type": "ResNeSt", "depth": 50, "radix": 0}, r"radix \(0\)"),
        ({"type": "ViPNAS_ResNet", "depth": 50, "dep": (None, 1, 1)}, r"dep \(None, 1, 1\) need the stem entry"),
        ({"type": "ResNeSt", "depth": 50, "deep_stem": False}, "deep_stem"),
    ],
)
def test_bad_config_is_named(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", cfg)
