"""Every installed component of every kind, checked from the example config its class declares
(as timm's test_models runs every registered model): a newly installed plugin is checked
here with no new test code. Backbones, necks, heads and codecs run their kind's full
conformance check; the other kinds are built and must refuse an unknown argument."""

from __future__ import annotations

from typing import Any

import pytest

from posekit.registry import GROUPS, entries

COMPONENTS = [(e.kind, e.qualified) for kind in GROUPS for e in entries(kind)]


@pytest.mark.parametrize(("kind", "name"), COMPONENTS, ids=[f"{k}-{n}" for k, n in COMPONENTS])
def test_installed_component(posekit_check: Any, kind: str, name: str) -> None:
    posekit_check.component(kind, name)
