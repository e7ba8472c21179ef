"""Box decoding stays finite: a diverging size output (exp overflowing float32) gives capped boxes and finite
keypoints, never the NaN that CocoMetric refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import posekit

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["synthetic_rtmo", "synthetic_yoloxpose"])
def test_overflowing_box_sizes_give_finite_people(name: str) -> None:
    model = posekit.init_model(str(CONFIGS / f"{name}.yaml"))
    module = model.head.head_module
    with torch.no_grad():
        for conv in module.out_bbox:
            conv.bias[2:] = 100.0  # exp(100) is inf in float32
        for conv in module.out_cls:
            conv.bias.fill_(10.0)  # every prior passes the score threshold
        for conv in getattr(module, "out_obj", []):
            conv.bias.fill_(10.0)
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    people = posekit.inference_bottomup(model, image)
    assert people
    for p in people:
        assert np.isfinite(p.keypoints).all() and np.isfinite(p.bbox).all(), f"{name}: {p.keypoints}"
