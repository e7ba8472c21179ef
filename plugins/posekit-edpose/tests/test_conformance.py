"""The conformance kit on posekit-edpose's components, from their declared example_config / example_inputs."""

from __future__ import annotations

import pytest
from posekit_testing.conformance import check_component

COMPONENTS = [("head", "EDPoseHead"), ("codec", "EDPoseLabel")]


@pytest.mark.parametrize(("kind", "name"), COMPONENTS, ids=[n for _, n in COMPONENTS])
def test_conformance(kind: str, name: str) -> None:
    assert check_component(kind, name) == "conformance"
