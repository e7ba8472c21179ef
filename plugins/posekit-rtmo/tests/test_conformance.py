"""The conformance kit on every posekit-rtmo component, from its declared example_config / example_inputs."""

from __future__ import annotations

import pytest
from posekit_testing.conformance import check_component

COMPONENTS = [
    ("neck", "ChannelMapper"),
    ("neck", "HybridEncoder"),
    ("head", "YOLOXPoseHead"),
    ("head", "RTMOHead"),
    ("codec", "YOLOXPoseAnnotationProcessor"),
    ("loss", "IoULoss"),
]


@pytest.mark.parametrize(("kind", "name"), COMPONENTS, ids=[n for _, n in COMPONENTS])
def test_conformance(kind: str, name: str) -> None:
    assert check_component(kind, name) in ("conformance", "built")
