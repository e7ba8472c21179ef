"""pytest plugin (``pytest11`` entry point ``posekit``): fixtures for plugin test suites."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture
def posekit_check() -> SimpleNamespace:
    """The conformance checks: ``posekit_check.codec(cfg)``, ``.backbone(cfg)``, ``.head(cfg, ...)``, ..."""
    from posekit_testing import conformance as c

    return SimpleNamespace(
        backbone=c.check_backbone,
        neck=c.check_neck,
        head=c.check_head,
        codec=c.check_codec,
        loss=c.check_loss,
        estimator=c.check_estimator,
        train_then_infer=c.check_train_then_infer,
    )


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ``shared/`` folder of reference fixtures and sample data (skips when absent)."""
    from posekit_testing.conformance import shared_dir

    path = shared_dir()
    if path is None:
        pytest.skip(
            "reference folder ../shared not found beside the repository (a user's clone); "
            "set POSEKIT_SHARED=/path/to/shared to run the reference tests"
        )
    return path
