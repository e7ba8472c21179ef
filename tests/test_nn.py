"""posekit.nn: BN folding, and checkpoint loading that never runs code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from posekit.errors import CheckpointError
from posekit.nn import fuse_conv_bn, load_checkpoint, optimize_for_inference, read_checkpoint


def _randomize_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))


def test_fuse_conv_bn_equivalent() -> None:
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()),  # nested
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
    assert isinstance(model[0][1], nn.Identity) and isinstance(model[2], nn.Identity)
    assert isinstance(model[5], nn.BatchNorm2d)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_fuse_skips_mismatched_norm() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.BatchNorm2d(4))  # BN not over the conv's channels
    fuse_conv_bn(model)
    assert isinstance(model[1], nn.BatchNorm2d)


# ---- checkpoints ----------------------------------------------------------------------------------


def _small() -> nn.Module:
    return nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)), nn.Conv2d(4, 2, 1))


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
