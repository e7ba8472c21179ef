"""MobileNetV2 / ShuffleNetV1 / ShuffleNetV2: MMPose 1.3.2 checkpoints load strictly and give MMPose's
outputs (fixtures/*.pth, written by ``fixtures/generate.py`` with MMPose's own Python, 1e-4 relative);
every MMPose config naming them builds; one training step then `posekit infer`; freezing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

import posekit
from posekit.errors import ConfigError
from posekit.registry import build

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ("mobilenetv2", "shufflenetv1", "shufflenetv2")
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-mobilenet/tests/fixtures/generate.py"
NUM_STAGES = {"MobileNetV2": 8, "ShuffleNetV1": 3, "ShuffleNetV2": 4}


def _close(actual: Any, expected: torch.Tensor, where: str) -> None:
    torch.testing.assert_close(
        actual, expected, rtol=1e-4, atol=1e-5, msg=lambda m: f"{where} (regenerate: {REGENERATE}): {m}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_mmpose_checkpoint_matches(name: str, tmp_path: Path) -> None:
    ref = torch.load(FIXTURES / f"{name}_outputs.pt", weights_only=True)
    k = ref["heatmaps"].shape[1]  # the tiny fixture's keypoints: a definition of its own
    definition = tmp_path / "tiny.yaml"
    points = "\n".join(f"  {i}: {{name: p{i}, id: {i}, color: [0, 0, 255], type: upper, swap: ''}}" for i in range(k))
    definition.write_text(f"dataset_name: tiny\nkeypoint_info:\n{points}\nskeleton_info: {{}}\n")
    model_cfg = {**ref["model"], "metainfo": str(definition)}
    model = posekit.init_model(model_cfg, FIXTURES / f"{name}.pth")  # strict: every key must match
    with torch.no_grad():
        feats = model.backbone(ref["input"])
        heatmaps = model.head(feats)
    assert len(feats) == len(ref["feats"])
    for i, (f, e) in enumerate(zip(feats, ref["feats"], strict=True)):
        _close(f, e, f"{name}.pth backbone output {i}")
    _close(heatmaps, ref["heatmaps"], f"{name}.pth heatmaps")


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_matches(name: str) -> None:
    ref = torch.load(FIXTURES / f"{name}_outputs.pt", weights_only=True)
    cfg = copy.deepcopy(ref["model"]["backbone"])
    backbone = build("backbone", {**cfg, "out_indices": tuple(range(NUM_STAGES[cfg["type"]]))})
    state = torch.load(FIXTURES / f"{name}.pth", weights_only=True)["state_dict"]
    backbone.load_state_dict({k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")})
    backbone.eval()
    with torch.no_grad():
        stages = backbone(ref["input"])
    assert len(stages) == len(ref["stages"])
    for i, (f, e) in enumerate(zip(stages, ref["stages"], strict=True)):
        _close(f, e, f"{name}.pth stage {i}")


def _configs() -> list[Path]:
    root = Path(__file__).resolve().parents[3].parent / "shared" / "mmpose-configs"
    needles = ("type='MobileNetV2'", "type='ShuffleNetV1'", "type='ShuffleNetV2'")
    return sorted(p for p in root.rglob("*.py") if any(n in p.read_text() for n in needles))


CONFIGS = _configs()


def test_configs_found() -> None:
    assert len(CONFIGS) >= 15, f"expected MMPose's 15 configs naming these backbones, found {len(CONFIGS)}"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_mmpose_config_builds(path: Path) -> None:
    model = posekit.init_model(path)  # the `model` dict read without running the file; pretrained weights dropped
    backbone = type(model.backbone).__name__
    assert backbone in NUM_STAGES and f"type='{backbone}'" in path.read_text()
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
