"""Issue 17, items 9-11: input that must be refused — alias bombs, garbage weights and boxes,
invalid JSON — and the mistakes that used to end in a traceback, each a one-line error now.

The command line runs in-process (``posekit.cli.main``): the same code as the ``posekit``
script, without an interpreter start per case.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

import posekit
from posekit.cli import main
from posekit.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "examples" / "configs" / "synthetic_rtmpose.yaml"


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_an_alias_bomb_in_a_config_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb() + "\nmodel: {type: TopdownPoseEstimator, backbone: {type: CSPNeXt, out_indices: *a8}}\n")
    code, err = _run(capsys, "config", "check", str(path))
    assert code == 2 and "alias" in err and str(path) in err  # refused before any expansion


def test_an_alias_bomb_in_a_set_override_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(capsys, "config", "check", str(SHIPPED), "--set", f"model.backbone.out_indices={_flow_bomb()}")
    assert code == 2 and "alias" in err


def _flow_bomb() -> str:
    """An alias bomb in YAML flow style (one line): 9**7 leaves from ~400 bytes."""
    text = "&l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"
    for i in range(1, 7):
        text = f"&l{i} [{text}, " + ", ".join([f"*l{i - 1}"] * 8) + "]"
    return "[" + ", ".join([text] + ["*l6"] * 8) + "]"


def test_an_error_message_prints_a_bounded_value(tmp_path: Path) -> None:
    huge = list(range(100_000))
    cfg = {"type": "CSPNeXt", "widen_factor": huge}
    with pytest.raises(ConfigError) as info:
        posekit.build("backbone", cfg)
    assert "widen_factor" in str(info.value) and len(str(info.value)) < 2000


def test_a_negative_kernel_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"head RTMCCHead .*cannot be built from its arguments"):
        posekit.build(
            "head",
            {"type": "RTMCCHead", "in_channels": 8, "out_channels": 17, "input_size": [96, 128],
             "in_featuremap_size": [6, 8], "final_layer_kernel_size": -7},
        )  # fmt: skip


# ------------------------------------------------------------------ inference: weights, boxes, JSON


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An image, a good checkpoint, one with a NaN weight, empty/text/payload files: real files."""
    root = tmp_path_factory.mktemp("scene")
    img = root / "person.jpg"
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (160, 120, 3), dtype=np.uint8))
    state = posekit.init_model(str(SHIPPED), optimize=False).state_dict()
    torch.save({"state_dict": state}, root / "good.pth")
    bad = dict(state)
    key = next(k for k, v in bad.items() if v.is_floating_point() and k.endswith("weight"))
    bad[key] = bad[key].clone().fill_(float("nan"))
    torch.save({"state_dict": bad}, root / "nan.pth")
    (root / "empty.pth").write_bytes(b"")
    (root / "text.pth").write_text("these are not weights\n")

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, ("echo owned",))

    torch.save({"state_dict": Payload()}, root / "payload.pth")
    return {"root": root, "img": img}


def _infer(capsys: pytest.CaptureFixture[str], scene: dict[str, Path], out: Path, *args: str) -> tuple[int, str]:
    return _run(capsys, "infer", str(SHIPPED), "--input", str(scene["img"]), "--out", str(out), "--no-draw", *args)


def _strict_json(path: Path) -> Any:
    def refuse(token: str) -> Any:
        raise ValueError(f"{path}: {token} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_weights_with_nan_are_refused_at_load(
    scene: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _infer(capsys, scene, tmp_path / "out", "--checkpoint", str(scene["root"] / "nan.pth"))
    assert code == 2 and "NaN or inf" in err and "nan.pth" in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.json"))


def test_predicting_without_a_checkpoint_needs_an_explicit_flag(
    scene: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _infer(capsys, scene, tmp_path / "out")
    assert code == 2 and "--random-weights" in err
    code, _ = _infer(capsys, scene, tmp_path / "out", "--random-weights")
    assert code == 0
    [written] = (tmp_path / "out").rglob("*.json")
    assert _strict_json(written)


@pytest.mark.parametrize(
    ("box", "message"),
    [
        (("50", "60", "10", "20"), "is inverted or empty"),
        (("nan", "0", "10", "10"), "holds NaN or inf"),
        (("500", "500", "600", "600"), "lies outside the 120x160 image"),
    ],
)
def test_bad_boxes_are_refused(
    scene: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], box: tuple[str, ...], message: str
) -> None:
    code, err = _infer(capsys, scene, tmp_path / "out", "--checkpoint", str(scene["root"] / "good.pth"), "--bbox", *box)
    assert code == 2 and message in err


def test_a_box_reaching_outside_the_image_is_clipped_with_a_warning(
    scene: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.warns(UserWarning, match="clipped"):
        code, _ = _infer(
            capsys,
            scene,
            tmp_path / "out",
            "--checkpoint",
            str(scene["root"] / "good.pth"),
            "--bbox",
            "-20",
            "10",
            "200",
            "150",
        )
    assert code == 0
    [written] = (tmp_path / "out").rglob("*.json")
    record = _strict_json(written)
    flat = json.dumps(record)
    assert "NaN" not in flat and "Infinity" not in flat
    [person] = record["instances"] if "instances" in record else record["people"]
    assert person["bbox"][:4] == [0.0, 10.0, 120.0, 150.0]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.pth", "empty, truncated or not a torch checkpoint"),
        ("text.pth", "empty, truncated or not a torch checkpoint"),
        ("payload.pth", "needs the Python object posix.system, which is refused"),
    ],
)
def test_unreadable_checkpoints_are_one_line_errors(
    scene: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    code, err = _infer(capsys, scene, tmp_path / "out", "--checkpoint", str(scene["root"] / name))
    assert code == 2 and message in err
    assert "weights_only" not in err.replace("weights_only=True", "")  # never torch's advice to load unsafely
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--device", "banana"), "--device='banana' is not a device"),
        (("--batch-size", "0"), "batch_size and det_interval must be >= 1"),
    ],
)
def test_bad_inference_options_are_one_line_errors(
    scene: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, err = _infer(capsys, scene, tmp_path / "out", "--checkpoint", str(scene["root"] / "good.pth"), *args)
    assert code == 2 and message in err


def test_a_bad_train_device_is_a_one_line_error(tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny.write(tmp_path / "cfg.json", tiny.config(tmp_path / "run", train__device="banana"))
    code, err = _run(capsys, "train", str(path))
    assert code == 2 and "train.device='banana' is not a device" in err


def test_synth_refuses_to_overwrite_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("data", "synth", "--out", str(tmp_path / "d"), "--num-train", "1", "--num-val", "1", "--size", "64x64")
    assert _run(capsys, *args)[0] == 0
    before = (tmp_path / "d" / "annotations" / "person_keypoints_train2017.json").stat().st_mtime_ns
    code, err = _run(capsys, *args, "--seed", "1")
    assert code == 2 and "already holds a dataset" in err and "--force" in err
    assert (tmp_path / "d" / "annotations" / "person_keypoints_train2017.json").stat().st_mtime_ns == before
    assert _run(capsys, *args, "--seed", "1", "--force")[0] == 0
