"""Issue 17, items 1, 3 and 4: a run never destroys another run's work, never ends "fine" with nothing
usable, and leaves no temporaries or processes behind after ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from posekit import hookimpl
from posekit.cli import main
from posekit.engine.checkpoint import prune


def _snapshot(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``posekit ARGS`` in-process (the script's own code, no interpreter start); (exit code, stderr)."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_fresh_run_refuses_a_folder_holding_another_runs_files(
    tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "run"
    cfg = tiny.config(work, train__epochs=1, hooks__checkpoint__keep_last=1)
    tiny.train(cfg)
    before = _snapshot(work)
    path = tiny.write(tmp_path / "cfg.json", cfg)

    code, err = _cli(capsys, "train", str(path), "--set", "train.epochs=3")
    assert code == 2
    assert "already holds another run's files (" in err and "epoch_1.pth" in err and "--resume" in err
    assert _snapshot(work) == before  # nothing written, nothing pruned

    code, err = _cli(capsys, "train", str(path), "--set", "train.epochs=2", "--resume")
    assert code == 0, err
    assert (work / "epoch_2.pth").is_file() and not (work / "epoch_1.pth").exists()  # the run's own, pruned


def test_pruning_deletes_only_the_runs_own_checkpoints(tmp_path: Path) -> None:
    for name in ("epoch_1.pth", "epoch_2.pth", "epoch_3.pth"):
        (tmp_path / name).write_bytes(b"x")
        time.sleep(0.01)
    own = {(tmp_path / "epoch_2.pth").resolve(), (tmp_path / "epoch_3.pth").resolve()}
    removed = prune(tmp_path, keep_last=1, protect=(tmp_path / "epoch_3.pth",), owned=own)
    assert removed == [tmp_path / "epoch_2.pth"]
    assert (tmp_path / "epoch_1.pth").is_file()  # another run's: kept


def test_a_work_dir_that_is_a_file_is_a_one_line_error(
    tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "afile"
    work.write_text("not a folder")
    code, err = _cli(capsys, "train", str(tiny.write(tmp_path / "cfg.json", tiny.config(work))))
    assert code == 2 and "is a file, not a folder" in err


def test_non_finite_numbers_in_the_config_are_refused(
    tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny.write(tmp_path / "cfg.json", tiny.config(tmp_path / "run"))
    for override, field in (
        ("optim.optimizer.lr=.inf", "optim.optimizer.lr"),
        ("optim.optimizer.weight_decay=.nan", "optim.optimizer.weight_decay"),
        ("optim.optimizer.momentum=1.5", "optim.optimizer.momentum"),
        ("optim.clip_grad=.inf", "optim.clip_grad"),
    ):
        code, err = _cli(capsys, "config", "check", str(path), "--set", override)
        assert code == 2 and field in err, (override, err)


def test_a_run_skipping_too_many_steps_fails_saying_why(tiny: Any, tmp_path: Path) -> None:
    cfg = tiny.config(tmp_path / "run", train__nan_policy="skip", train__max_skipped_fraction=0.1)
    cfg["data"]["train"]["dataset"]["nan_index"] = 3  # one batch of six per epoch: 17% of the steps
    trainer = tiny.train(cfg)
    assert not trainer.finished
    assert "2 of 12 steps were skipped" in trainer.stop_reason and "max_skipped_fraction=0.1" in trainer.stop_reason


class _PoisonWeights:
    """A hook plugin injecting the fault: after the first step every weight is inf."""

    @hookimpl
    def after_train_iter(self, trainer: Any) -> None:
        with torch.no_grad():
            for p in trainer.model.parameters():
                p.fill_(float("inf"))


def test_a_run_that_never_wrote_a_finite_checkpoint_fails_saying_why(tiny: Any, tmp_path: Path) -> None:
    cfg = tiny.config(
        tmp_path / "run", train={"epochs": 1, "progress": False, "nan_policy": "skip", "max_skipped_fraction": 1.0}
    )
    trainer = tiny.train(cfg, plugins=[_PoisonWeights()])
    assert not trainer.finished
    assert "never produced a finite checkpoint" in trainer.stop_reason
    assert not list((tmp_path / "run").glob("*.pth"))
    rows = [json.loads(line, parse_constant=_not_json) for line in (tmp_path / "run" / "scalars.jsonl").open()]
    assert [r["tiny/mae"] for r in rows if r["mode"] == "val"] == [None]  # NaN is written as null, valid JSON


def _not_json(token: str) -> None:
    raise ValueError(f"{token} is not JSON")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_loader_workers_die_with_a_killed_trainer(tiny: Any, tmp_path: Path) -> None:
    cfg = tiny.config(tmp_path / "run", train__epochs=10_000)
    cfg["data"]["train"].update(num_workers=2, persistent_workers=True)
    path = tiny.write(tmp_path / "cfg.json", cfg)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tiny.site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "posekit", "train", str(path)], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            workers = _children(proc.pid)
        assert len(workers) >= 2, "the loader workers never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 2.5  # torch's own parent watchdog would take 5 s or more
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "a loader worker outlived its killed trainer"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_run_removes_temporaries_an_interrupted_save_left(tiny: Any, tmp_path: Path) -> None:
    work = tmp_path / "run"
    cfg = tiny.config(work, train__epochs=1)
    tiny.train(cfg)
    stale = [work / ".epoch_2.pth.k3j2h1.tmp", work / ".last_checkpoint.x9y8.tmp"]
    for p in stale:
        p.write_bytes(b"\0" * 1024)
    keep = work / ".notes.tmp"  # not a checkpoint temporary: not ours to delete
    keep.write_text("user file")
    cfg["train"]["epochs"] = 2
    tiny.train(cfg, resume=True)
    assert not [p for p in stale if p.exists()]
    assert keep.is_file() and (work / "epoch_2.pth").is_file()
