"""VisPredictHead against MMPose 1.3.2: the head of the ``td-hm-vis_res50`` config, narrowed, with random
weights (fixtures/vis_head.pth, written by ``fixtures/generate.py`` with MMPose's own Python) loads strictly
and gives MMPose's heatmaps, visibilities, losses and flip-test keypoints and visibilities (1e-4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-visibility/tests/fixtures/generate.py"


def test_vis_head_matches_mmpose(posekit_reference: Any) -> None:
    outputs = ("heatmaps", "visibilities")
    posekit_reference.assert_head_fixture_matches(
        FIXTURES, "vis_head", REGENERATE, outputs, encoder=("pose_cfg", "decoder")
    )
