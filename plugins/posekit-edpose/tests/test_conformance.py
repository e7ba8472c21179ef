"""The conformance kit on posekit-edpose's components, from their declared example_config / example_inputs."""

from __future__ import annotations

from typing import Any

import pytest

COMPONENTS = [("head", "EDPoseHead"), ("codec", "EDPoseLabel")]


@pytest.mark.parametrize(("kind", "name"), COMPONENTS, ids=[n for _, n in COMPONENTS])
def test_conformance(posekit_check: Any, kind: str, name: str) -> None:
    assert posekit_check.component(kind, name) == "conformance"
