"""ViPNASHead against MMPose 1.3.2: the head of the ``td-hm_vipnas-mbv3`` config, narrowed, with random
weights (fixtures/vipnas_head.pth, written by posekit-visibility's ``tests/fixtures/generate.py`` with
MMPose's own Python) loads strictly and gives MMPose's heatmaps, loss and flip-test keypoints (1e-4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-visibility/tests/fixtures/generate.py"


def test_vipnas_head_matches_mmpose(posekit_reference: Any) -> None:
    posekit_reference.assert_head_fixture_matches(FIXTURES, "vipnas_head", REGENERATE, ("heatmaps",))
