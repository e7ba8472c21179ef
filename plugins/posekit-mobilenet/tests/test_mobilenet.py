"""MobileNetV2 / V3 / ViPNAS_MobileNetV3 / ShuffleNetV1 / V2: MMPose 1.3.2 checkpoints load strictly and
give MMPose's outputs (``fixtures/<case>``, written by ``fixtures/generate.py`` with MMPose's own Python;
1e-4 of the largest output); every MMPose config naming them builds; one training step then `posekit
infer`; freezing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

import posekit
from posekit.errors import ConfigError
from posekit.registry import build

HEADS = set(posekit.list_components("head")["head"])
FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "checkpoint.pth").is_file())
BACKBONES = ("MobileNetV2", "MobileNetV3", "ShuffleNetV1", "ShuffleNetV2", "ViPNAS_MobileNetV3")


def test_every_backbone_has_a_case(posekit_reference: Any) -> None:
    kinds = {posekit_reference.mmpose_backbone_config(FIXTURES / c)["type"] for c in CASES}
    assert kinds == set(BACKBONES), f"{FIXTURES}: cases of {sorted(kinds)}, expected {BACKBONES}"


@pytest.mark.parametrize("optimized", [False, True], ids=["eager", "fused-channels_last"])
@pytest.mark.parametrize("case", CASES)
def test_matches_mmpose(posekit_reference: Any, case: str, optimized: bool) -> None:
    """Every stage's output (the cases return them all) and the heatmaps, after a strict load."""
    posekit_reference.assert_backbone_matches_mmpose(FIXTURES / case, optimized)
    posekit_reference.assert_head_matches_mmpose(FIXTURES / case, ("heatmaps",))


def _configs() -> list[Path]:
    root = Path(__file__).resolve().parents[3].parent / "shared" / "mmpose-configs"
    needles = tuple(f"type='{b}'" for b in BACKBONES)
    return sorted(p for p in root.rglob("*.py") if any(n in p.read_text() for n in needles))


def _waits_for_vipnas_head(path: Path) -> bool:
    """The ViPNAS configs need a ``ViPNASHead`` (another distribution's), as head or SimCCHead's deconvs."""
    text = path.read_text()
    return "ViPNASHead" not in HEADS and ("type='ViPNASHead'" in text or "deconv_type='vipnas'" in text)


ALL_CONFIGS = _configs()
CONFIGS = [p for p in ALL_CONFIGS if not _waits_for_vipnas_head(p)]


def test_configs_found() -> None:
    assert len(ALL_CONFIGS) >= 19, f"expected MMPose's 19 configs naming these backbones, found {len(ALL_CONFIGS)}"
    assert len(ALL_CONFIGS) - len(CONFIGS) <= 4, "only the ViPNAS configs may wait for ViPNASHead"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_mmpose_config_builds(path: Path) -> None:
    model = posekit.init_model(path)  # the `model` dict read without running the file; pretrained weights dropped
    backbone = type(model.backbone).__name__
    assert backbone in BACKBONES and f"type='{backbone}'" in path.read_text()
    with torch.no_grad():
        feats = model.backbone(torch.zeros(1, 3, 64, 64))
    assert len(feats) == 1 and feats[0].shape[-2:] == (2, 2)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_mmpose_config_converts_and_checks(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main

    out = tmp_path / f"{path.stem}.yaml"
    assert main(["convert", "mmpose-config", str(path), "-o", str(out)]) == 0
    assert main(["config", "check", str(out)]) == 0
    assert "ok (TopdownPoseEstimator)" in capsys.readouterr().out


def test_one_training_step_then_posekit_infer(posekit_check: Any, tmp_path: Path) -> None:
    """A tiny MobileNetV2 + HeatmapHead trains one step (loss, backward), is saved, and runs through `posekit infer`."""
    codec = {"type": "MSRAHeatmap", "input_size": (64, 64), "heatmap_size": (16, 16), "sigma": 2.0}
    cfg = {
        "type": "TopdownPoseEstimator",
        "backbone": {"type": "MobileNetV2", "widen_factor": 0.25, "out_indices": (2,)},  # stride 8
        "head": {
            "type": "HeatmapHead",
            "in_channels": 8,
            "out_channels": 17,
            "deconv_out_channels": (16,),
            "deconv_kernel_sizes": (4,),
            "decoder": codec,
        },
    }
    posekit_check.train_then_infer(cfg, tmp_path)


@pytest.mark.parametrize(
    ("cfg", "frozen"),
    [
        ({"type": "MobileNetV2", "widen_factor": 0.25}, ()),
        ({"type": "MobileNetV2", "widen_factor": 0.25, "frozen_stages": 2}, ("conv1", "layer1", "layer2")),
        ({"type": "ShuffleNetV2", "widen_factor": 0.5, "frozen_stages": 1}, ("conv1", "layers.0")),
        ({"type": "ShuffleNetV1", "widen_factor": 0.5, "frozen_stages": 0}, ("conv1",)),
    ],
)
def test_frozen_stages(cfg: dict[str, Any], frozen: tuple[str, ...]) -> None:
    model = build("backbone", cfg).train()
    for name, p in model.named_parameters():
        assert p.requires_grad != (bool(frozen) and name.startswith(frozen)), name
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert m.training != (bool(frozen) and name.startswith(frozen)), name


def test_norm_eval_keeps_statistics() -> None:
    model = build("backbone", {"type": "ShuffleNetV2", "widen_factor": 0.5, "norm_eval": True}).train()
    before = copy.deepcopy(model.state_dict())
    model(torch.randn(2, 3, 64, 64))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if "running" in k)


def test_with_cp_same_gradients() -> None:
    torch.manual_seed(0)
    plain = build("backbone", {"type": "MobileNetV2", "widen_factor": 0.25, "out_indices": (3,)})
    cp = build("backbone", {"type": "MobileNetV2", "widen_factor": 0.25, "out_indices": (3,), "with_cp": True})
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    for m in (plain, cp):
        m(x)[0].sum().backward()
    for (name, a), b in zip(plain.named_parameters(), cp.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"type": "MobileNetV2", "out_indices": (8,)}, r"out_indices \(8,\) must be stage indices in \[0, 8\)"),
        ({"type": "ShuffleNetV2", "frozen_stages": 4}, r"frozen_stages must be in \[-1, 4\)"),
        ({"type": "ShuffleNetV2", "widen_factor": 0.75}, "widen_factor"),
        ({"type": "ShuffleNetV1", "groups": 5}, "groups"),
    ],
)
def test_bad_config_is_named(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", cfg)
