"""KeypointMSELoss and KeypointOHKMMSELoss against MMPose 1.3.2 on seeded inputs (fixtures/mmpose_heatmap_losses.pt,
written by ``fixtures/generate_losses.py`` with MMPose's own Python), within 1e-6 relative."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

import posekit

FIXTURE = Path(__file__).parent / "fixtures" / "mmpose_heatmap_losses.pt"
CASES = torch.load(FIXTURE, weights_only=True)
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-heatmap/tests/fixtures/generate_losses.py"


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['name']}" for i, c in enumerate(CASES)])
def test_matches_mmpose(case: dict[str, Any]) -> None:
    loss = posekit.build("loss", copy.deepcopy(case["config"]))
    with torch.no_grad():
        actual = loss(*copy.deepcopy(case["args"]))
    torch.testing.assert_close(
        actual,
        case["expected"],
        rtol=1e-6,
        atol=1e-7,
        msg=lambda m: f"{FIXTURE.name} {case['config']} (regenerate: {REGENERATE}): {m}",
    )
