"""Experiment configs: files, overrides, validation errors that name file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from posekit.config import apply_overrides, dump_config, load_config
from posekit.errors import ConfigError

CODEC = {"type": "MSRAHeatmap", "input_size": [192, 256], "heatmap_size": [48, 64], "sigma": 2}


@pytest.fixture
def model(posekit_configs: Any) -> dict[str, Any]:
    """The experiments' model: MMPose's SimpleBaseline (ResNet-18) on 256x192 crops."""
    return posekit_configs.heatmap_model(CODEC)


def write(tmp_path: Path, data: dict, suffix: str = ".yaml") -> Path:
    path = tmp_path / f"exp{suffix}"
    if suffix == ".yaml":
        path.write_text(yaml.safe_dump(data))
    else:
        path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_load_yaml_and_json(model: dict[str, Any], tmp_path: Path, suffix: str) -> None:
    cfg = load_config(write(tmp_path, {"model": model, "work_dir": "w"}, suffix))
    assert cfg.model["backbone"]["depth"] == 18
    assert cfg.train.epochs == 10  # defaults filled in


def test_load_toml(tmp_path: Path) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(
        'work_dir = "w"\n[model]\ntype = "TopdownPoseEstimator"\n[model.backbone]\ntype = "ResNet"\ndepth = 18\n'
        "[train]\nepochs = 3\n"
    )
    cfg = load_config(path)
    assert (cfg.model["backbone"]["type"], cfg.train.epochs) == ("ResNet", 3)


def test_overrides(model: dict[str, Any], tmp_path: Path) -> None:
    path = write(tmp_path, {"model": model})
    cfg = load_config(
        path, ["train.epochs=4", "optim.optimizer.lr=0.01", "model.head.decoder.sigma=3", "hooks.ema.momentum=0.001"]
    )
    assert cfg.train.epochs == 4 and cfg.optim.optimizer.lr == 0.01 and cfg.model["head"]["decoder"]["sigma"] == 3
    assert cfg.hooks.section("ema").momentum == 0.001 and cfg.hooks.checkpoint.interval == 1  # defaults filled in


def test_override_list_index() -> None:
    data = {"a": [{"b": 1}, {"b": 2}]}
    assert apply_overrides(data, ["a.1.b=5"]) == {"a": [{"b": 1}, {"b": 5}]}
    with pytest.raises(ConfigError, match="a is a list of 2; '7' is not an index"):
        apply_overrides(data, ["a.7.b=1"])
    with pytest.raises(ConfigError, match=r"expected KEY\.PATH=VALUE"):
        apply_overrides(data, ["novalue"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epochz=3", ["train.epochz: unknown field"]),
        ("train.epochs=-1", ["train.epochs:", "greater than or equal to 1"]),
        ("optim.optimizer.type=Adagrad", ["optim.optimizer.type:", "'SGD', 'Adam' or 'AdamW'"]),
        ("model.backbone.type=ResNte", ["model:", "unknown backbone 'ResNte'", "Did you mean: ResNet"]),
        ("model.head.decoder.sigma=wide", ["model:", "codec MSRAHeatmap", "sigma", "'wide'"]),
        ("model.head.in_chanels=3", ["model:", "in_chanels: unexpected argument of head HeatmapHead"]),
        ("hooks.checkpoint.save_best=coco/AP", ["save_best names a metric but no evaluator"]),
        ("hooks.checkpoint.intervall=2", ["hooks.checkpoint.intervall: unknown field", "accepts: interval,"]),
        ("hooks.ema.momentum=2", ["hooks.ema.momentum: Input should be less than 1"]),
        ("hooks.timer.every=2", ["hooks.timer.every: unknown field", "accepts: (none)"]),
        ("hooks.chekpoint.interval=2", ["hooks.chekpoint: unknown hook 'chekpoint'", "Did you mean: checkpoint"]),
        ("hooks.disable=[loger]", ["disable: unknown hook 'loger'", "Did you mean: logger"]),
    ],
)
def test_errors_name_file_and_field(model: dict[str, Any], tmp_path: Path, override: str, expected: list[str]) -> None:
    path = write(tmp_path, {"model": model})
    with pytest.raises(ConfigError) as info:
        load_config(path, [override])
    msg = str(info.value)
    assert str(path) in msg
    for text in expected:
        assert text in msg, f"{text!r} not in:\n{msg}"


def test_settings_moved_to_hook_sections_keep_their_meaning(model: dict[str, Any], tmp_path: Path) -> None:
    old = {"epochs": 3, "keep_last": 4, "save_best": "coco/AP", "log_interval": 5, "ema": {"enabled": True}}
    path = write(tmp_path, {"model": model, "train": old, "evaluator": [{"type": "PCKAccuracy"}]})
    with pytest.warns(FutureWarning, match=r"train.keep_last is now hooks.checkpoint.keep_last"):
        cfg = load_config(path)
    checkpoint = cfg.hooks.section("checkpoint")
    assert (checkpoint.keep_last, checkpoint.save_best, checkpoint.interval) == (4, "coco/AP", 1)
    assert cfg.hooks.section("logger").interval == 5 and cfg.hooks.section("ema").enabled
    assert cfg.train.epochs == 3
    with pytest.raises(ConfigError, match=r"train.keep_last and hooks.checkpoint.keep_last both given"):
        load_config(path, ["hooks.checkpoint.keep_last=2"])


def test_unparsable_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match=r"(?s)bad.yaml: cannot parse.*line 2"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match=r"unknown config format '\.ini'"):
        (tmp_path / "x.ini").write_text("")
        load_config(tmp_path / "x.ini")


def test_show_round_trips(model: dict[str, Any], tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, {"model": model}))
    again = load_config(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_cli_config_check_and_show(model: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main

    path = write(tmp_path, {"model": model})
    assert main(["config", "check", str(path)]) == 0
    assert "ok (TopdownPoseEstimator)" in capsys.readouterr().out
    assert main(["config", "show", str(path), "--set", "train.epochs=7"]) == 0
    assert "epochs: 7" in capsys.readouterr().out
    assert main(["config", "check", str(path), "--set", "model.backbone.depth=19x"]) == 2
    err = capsys.readouterr().err
    assert "posekit config: error:" in err and "depth" in err


def test_cli_plugins_lists_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "ResNet" in out and "posekit-resnet 0.1.0" in out and "posekit 0.1.0" in out
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"kind": "backbone", "name": "ResNet", "dist": "posekit-resnet"}.items() <= next(
        c for c in data["components"] if c["name"] == "ResNet"
    ).items()
