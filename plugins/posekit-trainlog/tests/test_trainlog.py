"""The ``tensorboard`` and ``curves`` hooks on a trainer's view: what they write from the logger's rows."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
from posekit_trainlog import curves, tensorboard

from posekit.registry import entries

ROWS = [
    {"mode": "train", "epoch": 1, "iter": 2, "loss": 0.9, "loss_kpt": 0.9, "lr": 0.01, "time": 0.1, "acc_pose": 0.2},
    {"mode": "train", "epoch": 1, "iter": 4, "loss": 0.5, "loss_kpt": 0.5, "lr": 0.01, "time": 0.1, "acc_pose": None},
    {"mode": "val", "epoch": 1, "iter": 4, "coco/AP": 0.3},
]


def trainer(work_dir: Path, is_main: bool = True) -> SimpleNamespace:
    """The part of a Trainer the two hooks read."""
    return SimpleNamespace(is_main=is_main, work_dir=work_dir, hook_state={})


def test_both_hooks_are_registered_under_their_names() -> None:
    names = {e.name: e.dist for e in entries("hook")}
    assert names.get("tensorboard") == names.get("curves") == "posekit-trainlog"


def test_tensorboard_gets_each_row_as_mode_slash_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[tuple[str, float, int]] = []

    class SummaryWriter:
        def __init__(self, log_dir: str) -> None:
            written.append(("opened " + log_dir, 0.0, 0))

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            written.append((tag, value, step))

        def close(self) -> None:
            written.append(("closed", 0.0, 0))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=SummaryWriter))
    t = trainer(tmp_path)
    tensorboard.before_run(t)
    for row in ROWS:
        tensorboard.log_scalars(t, row)
    tensorboard.after_run(t)
    assert written[0] == (f"opened {tmp_path / 'tensorboard'}", 0.0, 0) and written[-1][0] == "closed"
    assert ("train/loss", 0.5, 4) in written and ("val/coco/AP", 0.3, 4) in written
    assert not any(tag.endswith(("/mode", "/iter", "/epoch", "/acc_pose")) and step == 4 for tag, _, step in written)
    assert t.hook_state == {}


def test_tensorboard_does_nothing_without_the_package_or_off_rank_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    for t in (trainer(tmp_path), trainer(tmp_path, is_main=False)):
        tensorboard.before_run(t)
        tensorboard.log_scalars(t, ROWS[0])
        tensorboard.after_run(t)
        assert t.hook_state == {}
    assert not (tmp_path / "tensorboard").exists()


def test_curves_png_is_drawn_from_scalars_jsonl(tmp_path: Path) -> None:
    (tmp_path / "scalars.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    curves.after_run(trainer(tmp_path))
    png = tmp_path / curves.CURVES
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curves_skip_an_empty_or_missing_log_and_warn_on_a_bad_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    curves.after_run(trainer(tmp_path))  # no log: nothing
    (tmp_path / "scalars.jsonl").write_text("")
    curves.after_run(trainer(tmp_path))  # no rows: nothing
    assert not (tmp_path / curves.CURVES).exists()
    (tmp_path / "scalars.jsonl").write_text("not json\n")
    curves.after_run(trainer(tmp_path))
    assert "could not draw curves.png: JSONDecodeError" in caplog.text
