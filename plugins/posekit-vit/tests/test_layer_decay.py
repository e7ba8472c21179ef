"""LayerDecayOptimWrapperConstructor: the parameter groups (names, lr, lr_scale, weight decay, order) equal
those MMPose 1.3.2's constructor makes of the same model (fixtures/layer_decay.json, written by
``fixtures/generate.py``); a ViTPose config with it trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from posekit.errors import ConfigError
from posekit.registry import build

FIXTURES = Path(__file__).parent / "fixtures"


def _constructor(paramwise_cfg: dict[str, object]) -> object:
    return build("optim_constructor", {"type": "LayerDecayOptimWrapperConstructor", **paramwise_cfg})


def test_groups_equal_mmpose() -> None:
    ref = torch.load(FIXTURES / "vitpose_simple_outputs.pt", weights_only=True)
    cfg = ref["model"]  # MMPose's tiny ViTPose
    model = build("estimator", {**cfg, "backbone": {**cfg["backbone"], "type": "VisionTransformer"}})
    reference = json.loads((FIXTURES / "layer_decay.json").read_text())
    groups = _constructor(reference["paramwise_cfg"])(model, reference["optimizer"])  # ViTPose-S's, custom_keys too
    expected = reference["groups"]
    assert [g["group_name"] for g in groups] == [g["group_name"] for g in expected]
    for got, want in zip(groups, expected, strict=True):
        assert got["param_names"] == want["param_names"], got["group_name"]
        assert got["lr"] == pytest.approx(want["lr"], rel=1e-12) and got["lr_scale"] == pytest.approx(want["lr_scale"])
        assert got["weight_decay"] == want["weight_decay"]
        params = dict(model.named_parameters())
        assert all(p is params[n] for p, n in zip(got["params"], got["param_names"], strict=True))
    optimizer = torch.optim.AdamW(groups, lr=5e-4)  # the groups are torch parameter groups as they are
    assert len(optimizer.param_groups) == len(expected)


def test_frozen_parameters_are_left_out() -> None:
    cfg = {"type": "VisionTransformer", "arch": {"embed_dims": 16, "num_layers": 2, "num_heads": 2,
           "feedforward_channels": 32}, "img_size": 32, "frozen_stages": 1}  # fmt: skip
    backbone = build("backbone", cfg)
    model = torch.nn.Module()
    model.backbone = backbone
    groups = _constructor({"num_layers": 2})(model, {"lr": 1.0, "weight_decay": 0.5})
    names = [n for g in groups for n in g["param_names"]]
    assert not any(n.startswith(("backbone.layers.0.", "backbone.patch_embed", "backbone.pos_embed")) for n in names)
    by_name = {g["group_name"]: g for g in groups}
    assert by_name["layer_2_decay"]["lr"] == pytest.approx(0.5**1) and by_name["layer_3_no_decay"]["lr"] == 1.0


def test_bad_paramwise_cfg_is_named() -> None:
    with pytest.raises(ConfigError, match="layer_decay_rate"):
        _constructor({"num_layers": 12, "layer_decay_rate": 1.5})
    with pytest.raises(ConfigError, match="num_layers"):
        _constructor({"layer_decay_rate": 0.75})


def test_a_config_with_layer_decay_trains(tmp_path: Path) -> None:
    """``posekit train`` of a tiny ViTPose whose optimizer names the constructor: the saved optimizer holds
    MMPose's groups (2 layers: depths 0-3, rate 0.8)."""
    import subprocess
    import sys

    import yaml

    def posekit_cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "posekit", *args]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)

    synth = posekit_cli("data", "synth", "--out", "data", "--num-train", "4", "--num-val", "2")
    assert synth.returncode == 0, synth.stderr
    reference = json.loads((FIXTURES / "layer_decay.json").read_text())
    model = torch.load(FIXTURES / "vitpose_simple_outputs.pt", weights_only=True)["model"]
    codec = model["head"]["decoder"]
    pipeline = [
        {"type": "LoadImage"},
        {"type": "GetBBoxCenterScale"},
        {"type": "TopdownAffine", "input_size": list(codec["input_size"]), "use_udp": True},
        {"type": "GenerateTarget", "encoder": codec},
        {"type": "PackPoseInputs"},
    ]
    dataset = {"type": "CocoDataset", "data_root": "data", "ann_file": "annotations/person_keypoints_train2017.json",
               "data_prefix": {"img": "train2017/"}, "pipeline": pipeline}  # fmt: skip
    constructor = {"type": "LayerDecayOptimWrapperConstructor", **reference["paramwise_cfg"]}
    optimizer = {**reference["optimizer"], "constructor": constructor}
    experiment = {
        "work_dir": "work",
        "metainfo": "coco",
        "model": {
            **model,
            "backbone": {**model["backbone"], "type": "VisionTransformer"},
            "head": {**model["head"], "out_channels": 17},
        },
        "data": {"train": {"batch_size": 2, "num_workers": 0, "dataset": dataset}},
        "optim": {"optimizer": optimizer},
        "train": {"epochs": 1, "max_iters": 2, "seed": 0},
    }
    (tmp_path / "vitpose.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(experiment))))
    done = posekit_cli("train", "vitpose.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    (checkpoint,) = sorted((tmp_path / "work").glob("*.pth"))[-1:]
    groups = torch.load(checkpoint, weights_only=True)["optimizer"]["param_groups"]
    assert [g["group_name"] for g in groups] == [g["group_name"] for g in reference["groups"]]
    assert [g["weight_decay"] for g in groups] == [g["weight_decay"] for g in reference["groups"]]
