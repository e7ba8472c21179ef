"""Every ``param_scheduler`` MMPose ships, converted to phases, gives MMEngine's LR at every iteration.

Reference: ``fixtures/lr_schedules.npz`` from ``fixtures/gen_lr_schedules.py`` (MMEngine 0.10.7 and
MMPose 1.3.2's schedulers stepped as MMEngine's ``ParamSchedulerHook`` steps them). Tolerance: 1e-9
relative (the same chained float arithmetic).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from posekit_mmpose.schedules import schedule

from posekit.config.schema import SchedulerCfg
from posekit.engine.optim import LRSchedule

FIXTURE = Path(__file__).parent / "fixtures" / "lr_schedules.npz"
GENERATOR = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-mmpose/tests/fixtures/gen_lr_schedules.py"


def _cases() -> list[str]:
    with np.load(FIXTURE) as data:
        return sorted(k.removesuffix("_config") for k in data.files if k.endswith("_config"))


@pytest.mark.parametrize("case", _cases())
def test_schedule_matches_mmengine(case: str) -> None:
    with np.load(FIXTURE) as data:
        cfg = json.loads(str(data[f"{case}_config"]))
        expected = data[f"{case}_lrs"]
        epoch_length, lr_mult = int(data["epoch_length"]), float(data["lr_mult"])
    problems: list = []
    converted = schedule(cfg["param_scheduler"], problems)
    assert not [p for p in problems if p.fatal], (cfg["source"], problems)
    lr_schedule = LRSchedule(SchedulerCfg(**converted), epoch_length, cfg["max_epochs"], len(expected))
    bases = (cfg["lr"], cfg["lr"] * lr_mult)
    got = np.array([[lr_schedule(it, base) for base in bases] for it in range(len(expected))])
    bad = np.argwhere(~np.isclose(got, expected, rtol=1e-9, atol=0))
    where = f"{FIXTURE.name}:{case} ({cfg['source']}; regenerate with {GENERATOR})"
    assert not len(bad), f"{where}: first mismatch at iteration, group {tuple(bad[0])}: {got[tuple(bad[0])]} vs " + str(
        expected[tuple(bad[0])]
    )


def test_resume_replays_from_any_iteration() -> None:
    """The LR of an iteration does not depend on which iterations were asked before (resume)."""
    with np.load(FIXTURE) as data:
        cfg = json.loads(str(data["case0_config"]))
        expected = data["case0_lrs"]
        epoch_length = int(data["epoch_length"])
    phases = SchedulerCfg(**schedule(cfg["param_scheduler"], []))
    lr_schedule = LRSchedule(phases, epoch_length, cfg["max_epochs"], len(expected))
    for it in (len(expected) - 1, 7, 3, len(expected) // 2):
        assert lr_schedule(it, cfg["lr"]) == pytest.approx(expected[it, 0], rel=1e-9)
