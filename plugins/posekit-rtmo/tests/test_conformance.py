"""The conformance kit on every posekit-rtmo component, from its declared example_config / example_inputs."""

from __future__ import annotations

from typing import Any

import pytest

COMPONENTS = [
    ("neck", "ChannelMapper"),
    ("neck", "HybridEncoder"),
    ("head", "YOLOXPoseHead"),
    ("head", "RTMOHead"),
    ("codec", "YOLOXPoseAnnotationProcessor"),
    ("loss", "IoULoss"),
]


@pytest.mark.parametrize(("kind", "name"), COMPONENTS, ids=[n for _, n in COMPONENTS])
def test_conformance(posekit_check: Any, kind: str, name: str) -> None:
    assert posekit_check.component(kind, name) in ("conformance", "built")
