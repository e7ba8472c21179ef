"""Lite-HRNet and naive Lite-HRNet: a tiny one trains a step and runs through ``posekit infer``, conformance,
norm_eval, bad ``extra`` named (MMPose parity and configs: ``test_mmpose_cases.py``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from posekit_hrnet.litehrnet import LiteHRNet, _add_upsampled_, _mul_nearest

from posekit.errors import ConfigError
from posekit.registry import build

#: LiteHRNet's example (a LITE then a NAIVE stage, with the head), both stages LITE
TINY_EXTRA: dict[str, Any] = copy.deepcopy(LiteHRNet.example_config["extra"])
TINY_EXTRA["stages_spec"]["module_type"] = ("LITE", "LITE")


def _extra(**stages: Any) -> dict[str, Any]:
    extra = copy.deepcopy(TINY_EXTRA)
    extra["stages_spec"].update(stages)
    return extra


def test_one_training_step_then_posekit_infer(posekit_configs: Any, posekit_check: Any, tmp_path: Path) -> None:
    codec = {"type": "MSRAHeatmap", "input_size": (64, 64), "heatmap_size": (16, 16), "sigma": 2.0}
    cfg = posekit_configs.heatmap_model(codec, in_channels=8, deconv_out_channels=None)
    posekit_check.train_then_infer({**cfg, "backbone": {"type": "LiteHRNet", "extra": TINY_EXTRA}}, tmp_path)


@pytest.mark.parametrize(
    "cfg",
    [
        {"extra": _extra(module_type=("NAIVE", "NAIVE"), num_blocks=(2, 1)), "with_cp": True},
        {"extra": _extra(with_fuse=(False, True)), "with_cp": True},
        {
            "extra": {
                **TINY_EXTRA,
                "with_head": False,
                "stem": {"stem_channels": 8, "out_channels": 16, "expand_ratio": 2},
            }
        },
    ],
    ids=["naive-cp", "no-fuse-cp", "no-head-wide-stem"],
)
def test_conformance(posekit_check: Any, cfg: dict[str, Any]) -> None:
    posekit_check.backbone({"type": "LiteHRNet", **cfg}, input_shape=(2, 3, 64, 64))


def test_norm_eval_keeps_statistics() -> None:
    model = build("backbone", {"type": "LiteHRNet", "extra": TINY_EXTRA, "norm_eval": True}).train()
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    model(torch.randn(2, 3, 64, 64))[0].sum().backward()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert model.stem.conv1.bn.weight.grad is not None


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ({"num_modules": (1,)}, r"stages_spec.num_modules needs one entry per stage \(num_stages=2\)"),
        ({"num_branches": (2, 2)}, r"stage 1: num_branches \(2\) must be at least 2 and equal"),
        ({"module_type": ("LITE", "MIXED")}, "module_type"),
    ],
)
def test_bad_extra_is_named(stages: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", {"type": "LiteHRNet", "extra": _extra(**stages)})


@pytest.mark.parametrize(("size", "small"), [((16, 12), (4, 3)), ((9, 7), (5, 4))], ids=["divides", "uneven"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_broadcast_resampling_equals_interpolation(
    size: tuple[int, int], small: tuple[int, int], channels_last: bool
) -> None:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 6, *size).contiguous(memory_format=fmt)[:, 3:]  # a channel half, as the blocks see it
    w = torch.randn(2, 3, *small)
    out = _mul_nearest(x, w)
    assert torch.equal(out, x * F.interpolate(w, size=size, mode="nearest"))
    assert out.is_contiguous(memory_format=fmt)
    if size[0] % small[0] == 0:
        y = torch.randn(2, 3, 16, 12).contiguous(memory_format=fmt)
        expected = y + F.interpolate(w, scale_factor=4, mode="nearest")
        _add_upsampled_(y, w, 4)
        assert torch.equal(y, expected)
