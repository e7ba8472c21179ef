"""posekit.nn: mmcv-compatible bricks, BN folding, and checkpoint loading that never runs code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from posekit.errors import CheckpointError, ConfigError
from posekit.nn import (
    ConvModule,
    DepthwiseSeparableConvModule,
    apply_init_cfg,
    build_activation_layer,
    build_norm_layer,
    cat_shuffle,
    channel_shuffle,
    fuse_conv_bn,
    load_checkpoint,
    optimize_for_inference,
    read_checkpoint,
)


@pytest.mark.parametrize(
    ("cfg", "name", "cls"),
    [
        ({"type": "BN", "momentum": 0.03, "eps": 0.001}, "bn1", nn.BatchNorm2d),
        ({"type": "SyncBN", "requires_grad": True}, "bn1", nn.BatchNorm2d),  # one process: plain BN
        ({"type": "GN", "num_groups": 4}, "gn1", nn.GroupNorm),
        ({"type": "LN"}, "ln1", nn.LayerNorm),
        ({"type": "IN"}, "in1", nn.InstanceNorm2d),
        ({"type": "BN1d"}, "bn1", nn.BatchNorm1d),
    ],
)
def test_build_norm_layer(cfg: dict[str, Any], name: str, cls: type[nn.Module]) -> None:
    got_name, layer = build_norm_layer(cfg, 8, postfix=1)
    assert (got_name, type(layer)) == (name, cls)
    if "momentum" in cfg:
        assert (layer.momentum, layer.eps) == (0.03, 0.001)


def test_syncbn_under_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("posekit.nn.bricks._distributed_world_size", lambda: 2)
    assert isinstance(build_norm_layer({"type": "SyncBN"}, 8)[1], nn.SyncBatchNorm)


def test_norm_requires_grad_false() -> None:
    _, layer = build_norm_layer({"type": "BN", "requires_grad": False}, 8)
    assert not any(p.requires_grad for p in layer.parameters())


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"type": "GN"}, "num_groups"),
        ({"type": "BatchNorm"}, r"norm_cfg.*type"),
        ({"type": "BN", "momentun": 0.1}, "momentun"),
        ({"type": "BN", "num_groups": 2}, "num_groups applies to type 'GN' only"),
    ],
)
def test_bad_norm_cfg(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_norm_layer(cfg, 8)


def test_activations() -> None:
    assert isinstance(build_activation_layer({"type": "Swish"}), nn.SiLU)
    assert build_activation_layer({"type": "ReLU", "inplace": True}).inplace
    leaky = build_activation_layer({"type": "LeakyReLU", "negative_slope": 0.2})
    assert leaky.negative_slope == 0.2
    with pytest.raises(ConfigError, match="takes no 'inplace'"):
        build_activation_layer({"type": "GELU", "inplace": True})


def test_conv_module_keys_and_defaults() -> None:
    m = ConvModule(3, 8, 3, padding=1, norm_cfg={"type": "SyncBN"}, act_cfg={"type": "SiLU"})
    assert sorted(m.state_dict()) == [
        "bn.bias",
        "bn.num_batches_tracked",
        "bn.running_mean",
        "bn.running_var",
        "bn.weight",
        "conv.weight",
    ]
    assert m.activate.inplace, "mmcv's ConvModule defaults inplace=True"
    assert ConvModule(3, 8, 1).conv.bias is not None, "bias='auto' adds a bias without a norm"
    gn = ConvModule(3, 8, 1, norm_cfg={"type": "GN", "num_groups": 2}, act_cfg=None)
    assert "gn.weight" in gn.state_dict() and gn.activate is None
    dw = DepthwiseSeparableConvModule(8, 16, 5, padding=2, norm_cfg={"type": "BN"})
    assert dw.state_dict()["depthwise_conv.conv.weight"].shape == (8, 1, 5, 5)
    assert dw.state_dict()["pointwise_conv.conv.weight"].shape == (16, 8, 1, 1)


def _randomize_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))


def test_apply_init_cfg_follows_mmengine_dicts() -> None:
    """mmengine's init dicts apply in order to the named layers (and their subclasses); a bad one is named."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    apply_init_cfg(
        model,
        [
            {"type": "Constant", "layer": ["Conv2d", "Linear"], "val": 0.5},
            {"type": "Normal", "layer": "Linear", "std": 0.0, "bias_prob": 0.01},
        ],
    )
    assert torch.equal(model[0].weight, torch.full_like(model[0].weight, 0.5)) and not model[0].bias.any()
    assert not model[2].weight.any() and torch.allclose(model[2].bias, torch.full((2,), -4.59512), atol=1e-5)
    assert torch.equal(model[1].weight, torch.ones(4))  # not named: untouched
    with pytest.raises(ConfigError, match="Pretrained"):
        apply_init_cfg(model, {"type": "Pretrained", "checkpoint": "x.pth"})


def test_fuse_conv_bn_equivalent() -> None:
    model = nn.Sequential(
        ConvModule(3, 8, 3, padding=1, norm_cfg={"type": "BN"}),
        nn.Conv2d(8, 8, 3, padding=1, bias=True),  # conv with bias then BN
        nn.BatchNorm2d(8),
        nn.Conv2d(8, 8, 1),
        nn.ReLU(),
        nn.BatchNorm2d(8),  # not after a conv: must stay
    )
    _randomize_bn(model)
    model.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = model(x)
        fused = optimize_for_inference(model)
        out = fused(x)
    assert isinstance(model[0].bn, nn.Identity) and isinstance(model[2], nn.Identity)
    assert isinstance(model[5], nn.BatchNorm2d)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_fuse_skips_mismatched_norm() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(4))  # BN not over the conv's channels
    fuse_conv_bn(model)
    assert isinstance(model[1], nn.BatchNorm2d)


# ---- checkpoints ----------------------------------------------------------------------------------


def _small() -> nn.Module:
    return nn.Sequential(ConvModule(3, 4, 3, norm_cfg={"type": "BN"}), nn.Conv2d(4, 2, 1))


def test_load_mmpose_style_checkpoint_with_numpy_meta(tmp_path: Path) -> None:
    src = _small()
    state = {f"backbone.{k}": v for k, v in src.state_dict().items()}
    state["head.fc.weight"] = torch.zeros(1)
    meta = {"dataset_meta": {"flip_indices": np.arange(17), "sigmas": np.ones(17, np.float32), "name": b"coco"}}
    torch.save({"meta": meta, "state_dict": state}, tmp_path / "ck.pth")
    assert set(read_checkpoint(tmp_path / "ck.pth")) == {"meta", "state_dict"}
    dst = _small()
    result = load_checkpoint(dst, tmp_path / "ck.pth", prefix="backbone.", strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v)


def test_ddp_prefix_and_bare_state_dict(tmp_path: Path) -> None:
    src = _small()
    torch.save({f"module.{k}": v for k, v in src.state_dict().items()}, tmp_path / "ddp.pth")
    load_checkpoint(_small(), tmp_path / "ddp.pth")


def test_non_strict_warns(tmp_path: Path) -> None:
    state = _small().state_dict()
    del state["1.weight"]
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "partial.pth")
    with pytest.warns(UserWarning, match=r"missing keys \(left as initialised\): 1\.weight"):
        result = load_checkpoint(_small(), tmp_path / "partial.pth", strict=False)
    assert result.unexpected_keys == ["extra.weight"]
    with pytest.raises(CheckpointError, match=r"1 missing keys: 1\.weight\n  1 unexpected keys: extra\.weight"):
        load_checkpoint(_small(), tmp_path / "partial.pth", strict=True)


def test_misshaped_always_raises(tmp_path: Path) -> None:
    state = _small().state_dict()
    state["1.weight"] = torch.zeros(3, 4, 1, 1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(
        CheckpointError, match=r"mis-shaped keys: 1\.weight \(checkpoint \(3, 4, 1, 1\), model \(2, 4, 1, 1\)\)"
    ):
        load_checkpoint(_small(), tmp_path / "bad.pth", strict=False)


class _Payload:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("this must never run",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        (b"not a checkpoint", "could not be read"),
        ({"state_dict": _Payload()}, "could not be read"),
        ([1, 2], "holds a list"),
    ],
    ids=["missing", "garbage", "code", "not-a-dict"],
)
def test_unreadable_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str) -> None:
    path = tmp_path / "x.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(_small(), path)
    assert "must never run" not in capsys.readouterr().out


def test_safetensors(tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    src = _small()
    safetensors.save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "w.safetensors"))
    load_checkpoint(_small(), tmp_path / "w.safetensors")


def test_init_model_names_the_distribution_a_checkpoint_needs(shared: Path, tmp_path: Path) -> None:
    import importlib.metadata as md
    import json

    import posekit
    from posekit.nn.checkpoint import component_distributions

    folder = shared / "fixtures/mmpose/models/simplebaseline-res18-narrow_coco-256x192"
    config = json.loads((folder / "config.json").read_text())
    recorded = component_distributions(config)
    assert recorded["ResNet"] == ("posekit-resnet", md.version("posekit-resnet"))
    assert recorded["HeatmapHead"] == ("posekit-heatmap", md.version("posekit-heatmap"))
    ckpt = read_checkpoint(folder / "checkpoint.pth")
    ckpt["meta"] = {**ckpt.get("meta", {}), "distributions": {**recorded, "ResNetV9": ("posekit-resnet9", "0.3.0")}}
    torch.save(ckpt, tmp_path / "ck.pth")
    with pytest.raises(
        CheckpointError,
        match=r"ResNetV9 \(from posekit-resnet9 0\.3\.0\)"
        r".*pip install 'posekit-resnet9==0\.3\.0'",
    ):
        posekit.init_model(config, tmp_path / "ck.pth")
    del ckpt["meta"]["distributions"]["ResNetV9"]
    torch.save(ckpt, tmp_path / "ck.pth")
    posekit.init_model(config, tmp_path / "ck.pth")


@pytest.mark.parametrize("layout", ["nchw", "channels_last", "channels_last slices"])
@pytest.mark.parametrize("groups", [2, 3])
def test_shuffles_interleave_and_keep_the_memory_format(layout: str, groups: int) -> None:
    fmt = torch.contiguous_format if layout == "nchw" else torch.channels_last
    parts = torch.randn(2, 6 * groups, 5, 4).contiguous(memory_format=fmt).chunk(groups, dim=1)
    if layout != "channels_last slices":
        parts = tuple(p.contiguous(memory_format=fmt) for p in parts)
    expected = torch.stack(parts, dim=2).flatten(1, 2)  # channel k * groups + j is channel k of part j
    for out in (channel_shuffle(torch.cat(parts, dim=1).contiguous(memory_format=fmt), groups), cat_shuffle(*parts)):
        assert torch.equal(out, expected)
        assert out.is_contiguous(memory_format=fmt)
    uneven = (torch.randn(1, 2, 3, 3), torch.randn(1, 4, 3, 3))  # unequal widths: the plain cat and shuffle
    assert torch.equal(cat_shuffle(*uneven), channel_shuffle(torch.cat(uneven, dim=1), 2))
