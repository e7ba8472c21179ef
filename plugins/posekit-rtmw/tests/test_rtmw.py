"""RTMW (CSPNeXt + CSPNeXtPAFPN + RTMWHead): an MMPose 1.3.2 checkpoint loads strictly and gives
MMPose's outputs (fixtures/rtmw.pth, written by ``fixtures/generate.py`` with MMPose's own Python,
1e-4 relative); MMPose's RTMW configs convert, check and build; a definition other than the
133-keypoint whole-body one is refused; a training step, then `posekit infer`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import yaml

import posekit
from posekit.errors import ConfigError
from posekit.registry import build

FIXTURES = Path(__file__).parent / "fixtures"
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-rtmw/tests/fixtures/generate.py"
CONFIG_DIR = (
    Path(__file__).resolve().parents[3].parent / "shared/mmpose-configs/wholebody_2d_keypoint/rtmpose/cocktail14"
)
CONFIGS = sorted(CONFIG_DIR.glob("rtmw-*.py"))


def _close(posekit_reference: Any, name: str, got: torch.Tensor, ref: torch.Tensor) -> None:
    posekit_reference.assert_close_to_max(
        name, got.detach().numpy(), ref.numpy(), f"rtmw_outputs.pt (regenerate: {REGENERATE})"
    )


def test_mmpose_checkpoint_matches(posekit_reference: Any) -> None:
    ref = torch.load(FIXTURES / "rtmw_outputs.pt", weights_only=True)
    model = posekit.init_model({**ref["model"], "metainfo": "coco_wholebody"}, FIXTURES / "rtmw.pth")  # strict
    assert type(model.head).__name__ == "RTMWHead" and type(model.neck).__name__ == "CSPNeXtPAFPN"
    with torch.no_grad():
        feats = model.backbone(ref["input"])
        neck = model.neck(feats)
        simcc_x, simcc_y = model.head(neck)
    for i, (got, want) in enumerate(zip(feats, ref["feats"], strict=True)):
        _close(posekit_reference, f"backbone output {i}", got, want)
    assert len(neck) == len(ref["neck"]) == 2
    for i, (got, want) in enumerate(zip(neck, ref["neck"], strict=True)):
        _close(posekit_reference, f"neck output {i}", got, want)
    _close(posekit_reference, "simcc_x", simcc_x, ref["simcc_x"])
    _close(posekit_reference, "simcc_y", simcc_y, ref["simcc_y"])


def test_configs_found() -> None:
    assert len(CONFIGS) == 5, f"expected MMPose's 5 RTMW configs under {CONFIG_DIR}, found {len(CONFIGS)}"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_mmpose_config_converts_checks_builds(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main
    from posekit.interop import clean_model_dict

    out = tmp_path / f"{path.stem}.yaml"  # partial: the cocktail's InterHand2DDoubleDataset is no posekit dataset
    assert main(["convert", "mmpose-config", str(path), "-o", str(out), "--partial"]) == 0
    assert main(["config", "check", str(out)]) == 0
    assert "ok (TopdownPoseEstimator)" in capsys.readouterr().out
    with torch.device("meta"):  # shapes only: no memory, no weights
        model = build("estimator", clean_model_dict(yaml.safe_load(out.read_text())["model"], drop_pretrained=True))
    assert type(model.head).__name__ == "RTMWHead" and model.head.out_channels == 133


def test_definition_other_than_133_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main

    out = tmp_path / "rtmw.yaml"
    assert main(["convert", "mmpose-config", str(CONFIGS[0]), "-o", str(out), "--partial"]) == 0
    capsys.readouterr()
    assert main(["config", "check", str(out), "--set", "model.metainfo=coco"]) != 0
    err = capsys.readouterr().err
    assert "the head predicts 133 keypoints (model.head.out_channels)" in err and "has 17" in err, err


def _tiny_model() -> tuple[dict[str, Any], dict[str, Any]]:
    codec = {"type": "SimCCLabel", "input_size": (64, 96), "sigma": (4.9, 5.66), "normalize": False}
    head = {
        **_head_example(),
        "type": "RTMWHead",
        "out_channels": 133,
        "in_channels": 32,
        "loss": {
            "type": "KLDiscretLoss",
            "use_target_weight": True,
            "label_softmax": True,
            "mask": tuple(range(23, 91)),
            "mask_weight": 0.5,
        },
        "decoder": codec,
    }
    cfg = {
        "type": "TopdownPoseEstimator",
        "metainfo": "coco_wholebody",
        "backbone": {"type": "CSPNeXt", "deepen_factor": 0.167, "widen_factor": 0.03125},
        "neck": {"type": "CSPNeXtPAFPN", "in_channels": (8, 16, 32), "out_indices": (1, 2), "num_csp_blocks": 1},
        "head": head,
    }
    return cfg, codec


def _head_example() -> dict[str, Any]:
    from posekit.registry import get

    return dict(get("head", "RTMWHead").example_config)


def test_one_training_step_then_posekit_infer(posekit_check: Any, tmp_path: Path) -> None:
    """A tiny 133-keypoint RTMW trains one step (loss, backward), is saved, and runs through `posekit infer`."""
    cfg, codec = _tiny_model()
    model = posekit_check.estimator(
        cfg, posekit_check.random_topdown_batch(build("codec", codec), batch_size=2, num_keypoints=133)
    )
    for part in ("backbone", "neck", "head"):
        grads = [p.grad for p in getattr(model, part).parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), part
    torch.save({"state_dict": model.state_dict()}, tmp_path / "rtmw.pth")
    (tmp_path / "rtmw.json").write_text(json.dumps(cfg))
    cv2.imwrite(str(tmp_path / "person.png"), np.random.default_rng(0).integers(0, 256, (120, 100, 3), np.uint8))
    from posekit.cli import main

    args = ["--checkpoint", str(tmp_path / "rtmw.pth"), "--input", str(tmp_path / "person.png")]
    assert (
        main(
            [
                "infer",
                str(tmp_path / "rtmw.json"),
                *args,
                "--out",
                str(tmp_path / "out"),
                "--bbox",
                "10",
                "10",
                "70",
                "90",
            ]
        )
        == 0
    )
    (instance,) = json.loads((tmp_path / "out" / "predictions" / "person.json").read_text())["instances"]
    assert np.array(instance["keypoints"]).shape == (133, 2)


def test_conformance(posekit_check: Any) -> None:
    posekit_check.head({"type": "RTMWHead", **_head_example()}, feat_shapes=[(8, 6, 4), (16, 3, 2)])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gau_cfg": {"hidden_dims": 15, "s": 8}}, r"hidden_dims \(15\) must be even"),
        ({"in_channels": 18}, r"in_channels \(18\) a multiple of 4"),
        ({"gau_cfg": {"hidden_dim": 16}}, "hidden_dim"),
    ],
)
def test_bad_config_is_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("head", {"type": "RTMWHead", **_head_example(), **change})
