"""posekit-losses against MMPose 1.3.2: every loss's value on seeded inputs (fixtures/mmpose_losses.pt,
written by ``fixtures/generate.py`` with MMPose's own Python), within 1e-6 relative."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

import posekit
from posekit.errors import ConfigError

FIXTURE = Path(__file__).parent / "fixtures" / "mmpose_losses.pt"
CASES = torch.load(FIXTURE, weights_only=True)
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-losses/tests/fixtures/generate.py"


def _assert_close(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for key in expected:
            _assert_close(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_close(a, e, f"{where}[{i}]")
    else:
        torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-7, msg=lambda m: f"{where}: {m}")


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['name']}" for i, c in enumerate(CASES)])
def test_matches_mmpose(case: dict[str, Any]) -> None:
    loss = posekit.build("loss", copy.deepcopy(case["config"]))
    with torch.no_grad():
        actual = loss(*copy.deepcopy(case["args"]))
    _assert_close(actual, case["expected"], f"{FIXTURE.name} {case['config']} (regenerate: {REGENERATE})")


def test_every_loss_has_a_reference_case() -> None:
    from importlib.metadata import distribution

    names = {ep.name for ep in distribution("posekit-losses").entry_points if ep.group == "posekit.losses"}
    assert names - {c["name"] for c in CASES} == {"CombinedLoss"}  # CombinedLoss has no forward of its own


def test_gradients_flow() -> None:
    pred = torch.rand(2, 3, 8, 8, requires_grad=True)
    loss = posekit.build("loss", {"type": "AdaptiveWingLoss", "use_target_weight": True})
    loss(pred, torch.rand(2, 3, 8, 8), torch.ones(2, 3)).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_combined_loss_holds_named_losses() -> None:
    combined = posekit.build(
        "loss",
        {
            "type": "CombinedLoss",
            "losses": {"coords": {"type": "MSELoss"}, "bones": {"type": "BoneLoss", "joint_parents": [0, 0]}},
        },
    )
    x, y = torch.zeros(1, 2, 3), torch.ones(1, 2, 3)
    assert float(combined.coords(x, y)) == 1.0
    assert float(combined.bones(x, y)) == 0.0


def test_semi_supervision_warmup_returns_no_loss() -> None:
    loss = posekit.build("loss", {"type": "SemiSupervisionLoss", "joint_parents": [0, 0], "warmup_iterations": 1})
    assert loss({}, {}) == {}


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"type": "MultipleLossWrapper", "losses": [{"type": "MSELos"}]}, "MSELoss"),
        ({"type": "MLECCLoss", "mode": "cubic"}, "mode"),
        ({"type": "BCELoss", "reduction": "avg"}, "reduction"),
        ({"type": "BoneLoss"}, "joint_parents"),
    ],
)
def test_bad_config_is_named(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises((ConfigError, LookupError), match=message):
        posekit.build("loss", cfg)


def test_missing_weights_are_named() -> None:
    loss = posekit.build("loss", {"type": "WingLoss", "use_target_weight": True})
    with pytest.raises(ValueError, match="WingLoss: target weights are required"):
        loss(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2))
