"""HRFormer: a tiny one trains a step and runs through ``posekit infer``, the conformance kit, drop-path rates,
bad ``extra`` named (MMPose parity on ``fixtures/hrformer-*`` and its 4 configs: ``test_mmpose_cases.py``)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from posekit_hrnet.hrformer import HRFormer

from posekit.errors import ConfigError
from posekit.registry import build

TINY_EXTRA: dict[str, Any] = copy.deepcopy(HRFormer.example_config["extra"])


def _extra(stage: str, **changes: Any) -> dict[str, Any]:
    extra = copy.deepcopy(TINY_EXTRA)
    extra[stage].update(changes)
    return extra


def test_one_training_step_then_posekit_infer(posekit_configs: Any, posekit_check: Any, tmp_path: Path) -> None:
    codec = {"type": "MSRAHeatmap", "input_size": (64, 64), "heatmap_size": (16, 16), "sigma": 2.0}
    cfg = posekit_configs.heatmap_model(codec, in_channels=8, deconv_out_channels=None)
    posekit_check.train_then_infer({**cfg, "backbone": {"type": "HRFormer", "extra": TINY_EXTRA}}, tmp_path)


@pytest.mark.parametrize(
    "cfg",
    [
        {"extra": TINY_EXTRA},
        {"extra": {**_extra("stage4", multiscale_output=True), "with_pad_mask": True}, "norm_eval": True},
        {"extra": {**TINY_EXTRA, "with_rpe": False}, "frozen_stages": 2, "zero_init_residual": True},
    ],
    ids=["example", "multiscale-padmask", "no-rpe-frozen"],
)
def test_conformance(posekit_check: Any, cfg: dict[str, Any]) -> None:
    # 64x32: the 4x4 windows overhang the 2x1 map of branch 3 (padded, masked with with_pad_mask)
    model = posekit_check.backbone({"type": "HRFormer", **cfg}, input_shape=(2, 3, 64, 32))
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 64, 32))
    multiscale = cfg["extra"]["stage4"].get("multiscale_output", False)
    expected = [(1, 8 * 2**i, 16 // 2**i, 8 // 2**i) for i in range(4 if multiscale else 1)]
    assert [tuple(o.shape) for o in out] == expected


def test_drop_path_rises_over_stages() -> None:
    model = build("backbone", {"type": "HRFormer", "extra": TINY_EXTRA})
    rates = [model.stage2[0].branches[0][0].drop_path, model.stage4[0].branches[3][0].drop_path]
    assert isinstance(rates[0], torch.nn.Identity)  # rate 0: no module, as mmcv builds none
    assert rates[1].drop_prob == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (_extra("stage2", block="BOTTLENECK"), "stage2.block must be 'HRFORMERBLOCK'"),
        (_extra("stage1", block="HRFORMERBLOCK"), "stage1.block must be 'BOTTLENECK'"),
        (_extra("stage3", num_heads=(1, 2)), r"stage3\.num_heads \(1, 2\) needs one entry per branch"),
        (_extra("stage4", num_heads=(1, 2, 4, 7)), "num_channels 64 is not divisible by num_heads 7"),
        (_extra("stage2", block="BASIC"), r"extra\.stage2\.block"),
    ],
)
def test_bad_extra_is_named(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", {"type": "HRFormer", "extra": extra})
