"""MMPose interop: checkpoints load as they are (safely), model configs convert to posekit experiments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import posekit
from posekit.interop import convert_mmpose_config, read_mmpose_config

MODELS = (
    "rtmpose-t_coco-256x192",
    "simplebaseline-res18-narrow_coco-256x192",
    "hrnet-w18_coco-256x192",
    "ae-hrnet-w18-small_coco-256x256",
    "videopose3d-27frm-c256_h36m",
)

# An MMPose-style .py config: _base_, a codec variable, subscripts, a comprehension, implicit string
# concatenation, SyncBN, _scope_ and a Pretrained init_cfg — the same model as rtmpose-t's config.json.
RTMPOSE_PY = """
_base_ = ['../../../_base_/default_runtime.py']
max_epochs = 420
base_lr = 4e-3
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
codec = dict(
    type='SimCCLabel',
    input_size=(192, 256),
    sigma=(4.9, 5.66),
    simcc_split_ratio=2.0,
    normalize=False,
    use_dark=False)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        _scope_='mmdet',
        type='CSPNeXt',
        arch='P5',
        expand_ratio=0.5,
        deepen_factor=0.167,
        widen_factor=0.375,
        out_indices=(4, ),
        channel_attention=True,
        norm_cfg=dict(type='SyncBN'),
        act_cfg=dict(type='SiLU'),
        init_cfg=dict(
            type='Pretrained',
            prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmpose/v1/projects/'
            'rtmpose/cspnext-tiny_udp-aic-coco_210e-256x192-cbed682d_20230130.pth')),
    head=dict(
        type='RTMCCHead',
        in_channels=384,
        out_channels=17,
        input_size=codec['input_size'],
        in_featuremap_size=tuple([s // 32 for s in codec['input_size']]),
        simcc_split_ratio=codec['simcc_split_ratio'],
        final_layer_kernel_size=7,
        gau_cfg=dict(
            hidden_dims=256,
            s=128,
            expansion_factor=2,
            dropout_rate=0.,
            drop_path=0.,
            act_fn='SiLU',
            use_rel_bias=False,
            pos_enc=False),
        loss=dict(
            type='KLDiscretLoss',
            use_target_weight=True,
            beta=10.,
            label_softmax=True),
        decoder=codec),
    test_cfg=dict(flip_test=True))
dataset_type = 'CocoDataset'
data_root = 'data/coco/'
val_pipeline = [dict(type='LoadImage'), dict(type='TopdownAffine', input_size=codec['input_size'])]
"""


def _folder(shared: Path, name: str) -> Path:
    return shared / "fixtures/mmpose/models" / name


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", MODELS)
def test_mmpose_checkpoint_loads_with_numpy_meta(shared: Path, name: str) -> None:
    folder = _folder(shared, name)
    model = posekit.init_model(json.loads((folder / "config.json").read_text()), folder / "checkpoint.pth")
    from posekit.nn import read_checkpoint

    state = read_checkpoint(folder / "checkpoint.pth")["state_dict"]
    own = model.state_dict()
    assert set(state) == set(own), f"{folder / 'checkpoint.pth'}: keys differ from the posekit model's"
    assert all(torch.equal(own[k], v) for k, v in state.items())
    assert model.dataset_meta["dataset_name"] == ("h36m" if "h36m" in name else "coco")
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())


def test_checkpoint_of_another_model_lists_keys(shared: Path) -> None:
    config = json.loads((_folder(shared, "hrnet-w18_coco-256x192") / "config.json").read_text())
    ckpt = _folder(shared, "simplebaseline-res18-narrow_coco-256x192") / "checkpoint.pth"
    with pytest.raises(posekit.CheckpointError, match=r"missing keys: backbone\..*\n.*unexpected keys: backbone\."):
        posekit.init_model(config, ckpt)
    narrow = json.loads((_folder(shared, "simplebaseline-res18-narrow_coco-256x192") / "config.json").read_text())
    narrow["head"]["out_channels"] = 16
    with pytest.raises(posekit.CheckpointError, match=r"mis-shaped keys: head\.final_layer\.weight \(checkpoint \(17,"):
        posekit.init_model(narrow, ckpt)


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_checkpoint_with_arbitrary_objects_is_refused(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(shared, "rtmpose-t_coco-256x192")
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"x": Evil()}}, path)
    with pytest.raises(posekit.CheckpointError, match="which is refused \\(a checkpoint never runs code\\)"):
        posekit.init_model(json.loads((folder / "config.json").read_text()), path)
    assert "never run" not in capsys.readouterr().out


def test_safetensors_checkpoint(shared: Path, tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    folder = _folder(shared, "rtmpose-t_coco-256x192")
    config = json.loads((folder / "config.json").read_text())
    model = posekit.init_model(config, folder / "checkpoint.pth")
    safetensors.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    again = posekit.init_model(config, tmp_path / "m.safetensors")
    assert all(torch.equal(again.state_dict()[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", MODELS)
def test_convert_fixture_configs_builds_the_same_model(shared: Path, tmp_path: Path, name: str) -> None:
    folder = _folder(shared, name)
    out = tmp_path / f"{name}.yaml"
    experiment = convert_mmpose_config(folder / "config.json", out)
    text = out.read_text()
    assert "_scope_" not in text
    assert yaml.safe_load(text) == experiment
    converted = posekit.init_model(out, folder / "checkpoint.pth")  # the MMPose checkpoint loads into it
    direct = posekit.init_model(json.loads((folder / "config.json").read_text()))
    assert _shapes(converted) == _shapes(direct)


def test_convert_python_config(shared: Path, tmp_path: Path) -> None:
    folder = _folder(shared, "rtmpose-t_coco-256x192")
    source = tmp_path / "rtmpose-t_8xb256-420e_coco-256x192.py"
    source.write_text(RTMPOSE_PY)
    parsed = read_mmpose_config(source)
    assert parsed["dataset_type"] == "CocoDataset"
    assert parsed["model"]["head"]["in_featuremap_size"] == (6, 8)
    out = tmp_path / "rtmpose.yaml"
    experiment = convert_mmpose_config(source, out)
    assert experiment["metainfo"] == "coco"
    assert experiment["model"]["head"]["decoder"]["sigma"] == [4.9, 5.66]
    converted = posekit.init_model(out, folder / "checkpoint.pth")
    direct = posekit.init_model(json.loads((folder / "config.json").read_text()))
    assert _shapes(converted) == _shapes(direct)
    from_py = posekit.init_model(source, folder / "checkpoint.pth")  # init_model reads .py configs the same way
    assert _shapes(from_py) == _shapes(direct)


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("model = dict(type=__import__('os').system('echo hacked'))", r"call of .__import__\('os'\)\.system."),
        ("model = dict(type='TopdownPoseEstimator', backbone=backbone)", r"name 'backbone' is not assigned"),
        ("model = dict(type='X', **extra)", r"'\*\*' unpacking"),
        ("model = dict(type=[x for x in range(3)])", r"call of .range."),
        ("_base_ = ['a.py']\nx = 1", r"no top-level 'model = dict\(...\)'.*_base_"),
        ("model = dict(type='TopdownPoseEstimator'", r"not valid Python"),
        ("a = b\nb = a\nmodel = dict(type=a)", r"refers to itself"),
    ],
)
def test_python_config_is_never_executed(tmp_path: Path, snippet: str, message: str) -> None:
    source = tmp_path / "bad.py"
    source.write_text(snippet)
    with pytest.raises(posekit.ConfigError, match=message):
        read_mmpose_config(source)


def test_convert_names_missing_components(shared: Path, tmp_path: Path) -> None:
    config = json.loads((_folder(shared, "hrnet-w18_coco-256x192") / "config.json").read_text())
    config["head"]["type"] = "DSNTHead"
    config["head"]["loss"]["type"] = "JointsMSELoss"
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(config))
    with pytest.raises(
        posekit.ConfigError, match=r"model\.head: head 'DSNTHead'(.|\n)*model\.head\.loss: loss 'JointsMSELoss'"
    ):
        convert_mmpose_config(source, tmp_path / "out.yaml")
    with pytest.raises(posekit.ConfigError, match=r"model\.head: head 'DSNTHead'"):
        posekit.init_model(config)


def test_cli_convert(shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main

    source = tmp_path / "rtmpose.py"
    source.write_text(RTMPOSE_PY)
    out = tmp_path / "rtmpose.yaml"
    assert main(["convert", "mmpose-config", str(source), "-o", str(out)]) == 0
    assert "TopdownPoseEstimator" in capsys.readouterr().out
    assert main(["config", "check", str(out)]) == 0
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(type=open('x'))")
    assert main(["convert", "mmpose-config", str(bad), "-o", str(out)]) == 2
    assert "call of 'open'" in capsys.readouterr().err.replace('"', "'")
