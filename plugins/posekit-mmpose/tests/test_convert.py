"""posekit-mmpose: MMPose configs read without running them, inherited, and converted section by section."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from posekit_mmpose.convert import MissingComponentError, convert_mmpose_config, read_mmpose_config
from posekit_mmpose.pyconfig import read_config

import posekit

RTMPOSE_T = "body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py"
RTMPOSE_M = "body_2d_keypoint/rtmpose/coco/rtmpose-m_8xb256-420e_coco-256x192.py"
IMAGE_LIFT = "body_3d_keypoint/image_pose_lift/h36m/image-pose-lift_tcn_8xb64-200e_h36m.py"  # StepLR: unconverted


def _folder(shared: Path, name: str) -> Path:
    return shared / "fixtures/mmpose/models" / name


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    "name", ["rtmpose-t_coco-256x192", "ae-hrnet-w18-small_coco-256x256", "videopose3d-27frm-c256_h36m"]
)
def test_convert_fixture_model_dicts_builds_the_same_model(shared: Path, tmp_path: Path, name: str) -> None:
    folder = _folder(shared, name)
    out = tmp_path / f"{name}.yaml"
    experiment, _ = convert_mmpose_config(folder / "config.json", out, partial=True)
    text = out.read_text()
    assert "_scope_" not in text
    assert yaml.safe_load(text.split("\n", 1)[1]) == experiment
    converted = posekit.init_model(out, folder / "checkpoint.pth")  # the MMPose checkpoint loads into it
    direct = posekit.init_model(json.loads((folder / "config.json").read_text()))
    assert _shapes(converted) == _shapes(direct)


def test_real_rtmpose_config_converts_every_section(shared: Path, tmp_path: Path) -> None:
    source = shared / "mmpose-configs" / RTMPOSE_M
    experiment, problems = convert_mmpose_config(source, tmp_path / "rtm.yaml")  # nothing left out
    assert not any(p.fatal for p in problems)
    switch = experiment["data"]["train"]["pipeline_switch"]  # PipelineSwitchHook: stage 2 from epoch 390
    assert switch["epoch"] == 390 and switch["pipeline"][-1]["type"] == "PackPoseInputs"
    assert experiment["metainfo"] == "coco"
    assert experiment["model"]["head"]["in_featuremap_size"] == [6, 8]
    assert experiment["model"]["backbone"]["norm_cfg"] == {"type": "SyncBN"}
    assert experiment["data"]["val"]["batch_size"] == 64 and experiment["data"]["val"]["shuffle"] is False
    assert experiment["evaluator"][0]["type"] == "CocoMetric"
    assert experiment["optim"]["optimizer"] == {
        "type": "AdamW",
        "lr": 4e-3,
        "weight_decay": 0.05,
        "norm_decay_mult": 0,
        "bias_decay_mult": 0,
    }
    warmup, cosine = experiment["optim"]["scheduler"]["phases"]  # LinearLR warmup, flat, then cosine from 210
    assert (warmup["type"], warmup["end"], warmup["start_factor"], warmup["by_epoch"]) == (
        "LinearLR",
        1000,
        1e-5,
        False,
    )
    assert (cosine["type"], cosine["begin"], cosine["T_max"]) == ("CosineAnnealingLR", 210, 210)
    assert cosine["eta_min"] == pytest.approx(4e-3 * 0.05) and cosine["convert_to_iter_based"]
    train = experiment["train"]
    assert (train["epochs"], train["val_interval"], train["seed"]) == (420, 10, 21)
    assert experiment["hooks"]["checkpoint"]["save_best"] == "coco/AP"
    assert experiment["hooks"]["ema"] == {"enabled": True, "momentum": 0.0002, "update_buffers": True}
    assert "mmdet" not in (tmp_path / "rtm.yaml").read_text()  # mmdet.YOLOXHSVRandomAug lost its scope
    assert any(p.path == "auto_scale_lr" and not p.fatal for p in problems)
    folder = _folder(shared, "rtmpose-t_coco-256x192")
    direct = posekit.init_model(json.loads((folder / "config.json").read_text()))
    from_py = posekit.init_model(
        shared / "mmpose-configs" / RTMPOSE_T, folder / "checkpoint.pth"
    )  # init_model reads .py through the plugin
    assert _shapes(from_py) == _shapes(direct)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path / next(iter(files))


def test_base_inheritance_merges_as_mmengine(tmp_path: Path) -> None:
    child = _tree(
        tmp_path,
        {
            "configs/x/child.py": (
                "_base_ = ['./parent.py']\n"
                "model = dict(backbone=dict(depth=18), head=dict(_delete_=True, type='H', k=_base_.num))\n"
                "lr = {{_base_.optim.lr}}\n"
                "optim = dict(lr=lr * 2)\n"
            ),
            "configs/x/parent.py": (
                "_base_ = 'mmpose::_base_/runtime.py'\nnum = 17\n"
                "model = dict(type='E', backbone=dict(type='ResNet', depth=50, out=(3,)), head=dict(type='Old', a=1))\n"
                "optim = dict(lr=0.5, wd=0.1)\n"
            ),
            "configs/_base_/runtime.py": "seed = 3\n",
        },
    )
    names = read_config(child)
    assert names["model"] == {
        "type": "E",
        "backbone": {"type": "ResNet", "depth": 18, "out": (3,)},
        "head": {"type": "H", "k": 17},
    }
    assert names["optim"] == {"lr": 1.0, "wd": 0.1} and names["seed"] == 3


def test_read_base_and_python_subset(tmp_path: Path) -> None:
    child = _tree(
        tmp_path,
        {
            "configs/a/new.py": (
                "from mmengine.config import read_base\n"
                "with read_base():\n    from .._base_.runtime import *\n"
                "from mmpose.models import HeatmapHead as Head\n"
                "train_cfg.update(max_epochs=5)\n"
                "codec = dict(type='MSRAHeatmap', input_size=(192, 256))\n"
                "head = dict(codec, heatmap_size=tuple(s // 4 for s in codec['input_size']), type=Head)\n"
                "pairs = [(a, b) for (a, b) in [(1, 2), (3, 1)] if a < b]\n"
                "idx = list(range(2, 8, 3)) + [*range(2)]\n"
                "name = f'x{len(idx)}'\n"
                "items = []\nfor i, s in [(0, 'a'), (1, 'b')]:\n    items.append(i)\n"
            ),
            "configs/_base_/runtime.py": "train_cfg = dict(by_epoch=True)\n",
        },
    )
    names = read_config(child)
    assert names["train_cfg"] == {"by_epoch": True, "max_epochs": 5}
    assert names["head"] == {"type": "HeatmapHead", "input_size": (192, 256), "heatmap_size": (48, 64)}
    assert names["pairs"] == [(1, 2)] and names["idx"] == [2, 5, 0, 1] and names["name"] == "x4"
    assert names["items"] == [0, 1]


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("model = dict(type=__import__('os').system('echo hacked'))", r"call of .__import__\('os'\)\.system."),
        ("model = dict(type='TopdownPoseEstimator', backbone=backbone)", r"name 'backbone' is not bound"),
        ("import os\nmodel = dict(type='X')", r"'import' of a module"),
        ("model = dict(type=(lambda: 1)())", r"call of"),
        ("while True:\n    pass", r"unsupported statement While"),
        ("x = 9 ** 9 ** 9", r"would have more than 4096 bits"),
        ("x = 'a' * 10 ** 9", r"would hold more than"),
        ("x = list(range(10 ** 9))", r"range of more than"),
        ("x = [[0] * 1000 for i in range(5000)]", r"more than 2000000 elements"),
        ("x = ().__class__", r"attribute '__class__'"),
        ("_base_ = ['missing.py']", r"missing\.py not found"),
        ("model = dict(type='TopdownPoseEstimator'", r"not valid Python"),
    ],
)
def test_python_config_is_never_executed(tmp_path: Path, snippet: str, message: str) -> None:
    source = tmp_path / "bad.py"
    source.write_text(snippet)
    with pytest.raises(posekit.ConfigError, match=message):  # refused, not computed
        read_mmpose_config(source)


def test_missing_model_component_is_named(shared: Path, tmp_path: Path) -> None:
    config = json.loads((_folder(shared, "hrnet-w18_coco-256x192") / "config.json").read_text())
    config["head"]["type"] = "NoSuchHead"
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(config))
    with pytest.raises(MissingComponentError, match=r"model\.head: head 'NoSuchHead'") as info:
        convert_mmpose_config(source, tmp_path / "out.yaml", partial=True)
    assert ("head", "NoSuchHead", "model.head") in info.value.components


def test_cli_convert(shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main

    source = tmp_path / "lifter.py"  # the lifter with a scheduler posekit lacks
    base = shared / "mmpose-configs" / IMAGE_LIFT
    source.write_text(f"_base_ = [{str(base)!r}]\nparam_scheduler = [dict(type='OneCycleLR', eta_max=0.1)]\n")
    out = tmp_path / "lifter.yaml"
    assert main(["convert", "mmpose-config", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "param_scheduler[0].type: 'OneCycleLR'" in err and "--partial" in err and not out.exists()
    assert main(["convert", "mmpose-config", str(source), "-o", str(out), "--partial"]) == 0
    printed = capsys.readouterr().out
    assert "left out (--partial)" in printed and "PoseLifter" in printed
    assert main(["config", "check", str(out)]) == 0
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(type=open('x'))")
    assert main(["convert", "mmpose-config", str(bad), "-o", str(out)]) == 2
    assert "call of 'open'" in capsys.readouterr().err.replace('"', "'")


def test_rtmpose_stage2_becomes_a_pipeline_switch(shared: Path, tmp_path: Path) -> None:
    child = tmp_path / "rtmpose-m_no-albu.py"
    child.write_text(
        f"_base_ = [{str(shared / 'mmpose-configs' / RTMPOSE_M)!r}]\n"
        "stage1 = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'), dict(type='RandomFlip'),\n"
        "          dict(type='TopdownAffine', input_size=codec['input_size']),\n"
        "          dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')]\n"
        "train_dataloader = dict(dataset=dict(pipeline=stage1))\n"
        "custom_hooks = [\n"
        "    dict(type='mmdet.PipelineSwitchHook', switch_epoch=390, switch_pipeline=stage1[:2] + stage1[3:])]\n"
    )
    experiment, problems = convert_mmpose_config(child, tmp_path / "out.yaml")
    switch = experiment["data"]["train"]["pipeline_switch"]
    assert switch["epoch"] == 390 and [s["type"] for s in switch["pipeline"]][2] == "TopdownAffine"
    assert not [p for p in problems if p.fatal]


def test_load_from_becomes_train_load_from(shared: Path, tmp_path: Path) -> None:
    jhmdb = "body_2d_keypoint/topdown_heatmap/jhmdb/td-hm_res50_8xb64-20e_jhmdb-sub3-256x256.py"
    source = shared / "mmpose-configs" / jhmdb
    experiment, problems = convert_mmpose_config(source, tmp_path / "jhmdb.yaml")
    assert experiment["train"]["load_from"].endswith("/res50_mpii_256x256-418ffc88_20200812.pth")
    assert not [p for p in problems if "load_from" in p.path]


def test_remote_file_backend_is_left_out_with_a_note(shared: Path, tmp_path: Path) -> None:
    """RTMPose's body8 config reads OpenMMLab's ``petrel`` storage: converted to local files, and said so."""
    body8 = "body_2d_keypoint/rtmpose/body8/rtmpose-m_8xb512-700e_body8-halpe26-384x288.py"
    experiment, problems = convert_mmpose_config(shared / "mmpose-configs" / body8, tmp_path / "body8.yaml")
    notes = [p for p in problems if p.path.endswith("backend_args") and "petrel" in p.reason]
    assert notes and not any(p.fatal for p in notes)
    assert "backend_args" not in experiment["data"]["train"]["dataset"]["pipeline"][0]
    assert "backend_args" not in experiment["data"]["train"]["pipeline_switch"]["pipeline"][0]


def test_estimator_pretrained_init_cfg_becomes_load_from(shared: Path, tmp_path: Path) -> None:
    """IPR/DSNT start the whole estimator from a SimpleBaseline checkpoint: MMEngine's non-strict load, as load_from."""
    ipr = "body_2d_keypoint/integral_regression/coco/ipr_res50_8xb64-210e_coco-256x256.py"
    experiment, problems = convert_mmpose_config(shared / "mmpose-configs" / ipr, tmp_path / "ipr.yaml")
    assert experiment["train"]["load_from"].startswith("https://")
    assert "init_cfg" not in experiment["model"] and not [p for p in problems if p.fatal]


def test_nested_pipelines_convert_and_their_steps_are_checked(shared: Path, tmp_path: Path) -> None:
    """ED-Pose's RandomChoice of sub-pipelines converts whole; a step posekit lacks inside one is named."""
    edpose = shared / "mmpose-configs" / "body_2d_keypoint/edpose/coco/edpose_res50_8xb2-50e_coco-800x1333.py"
    experiment, problems = convert_mmpose_config(edpose, tmp_path / "edpose.yaml", partial=True)
    choice = experiment["data"]["train"]["dataset"]["pipeline"][2]
    crop = ["BottomupRandomChoiceResize", "BottomupRandomCrop", "BottomupRandomChoiceResize"]
    assert choice["type"] == "RandomChoice" and [step["type"] for step in choice["transforms"][1]] == crop
    assert not [p for p in problems if p.fatal and p.section in ("data", "evaluator")]
    child = tmp_path / "nested.py"
    child.write_text(
        f"_base_ = [{str(shared / 'mmpose-configs' / RTMPOSE_T)!r}]\n"
        "train_dataloader = dict(dataset=dict(pipeline=[\n"
        "    dict(type='RandomChoice', transforms=[[dict(type='RandomFlip')], [dict(type='NoSuchCrop')]])]))\n"
    )
    _, problems = convert_mmpose_config(child, tmp_path / "nested.yaml", partial=True)
    [missing] = [p for p in problems if p.component == "transform NoSuchCrop"]
    assert missing.path == "train_dataloader.dataset.pipeline[0].transforms[1][0]"
