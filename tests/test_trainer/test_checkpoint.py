"""Checkpoint files: atomic writes, weights_only loading, RNG states, latest/prune, and kill-and-resume."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from posekit.engine.checkpoint import (
    find_latest,
    prune,
    rng_state,
    save_checkpoint,
    set_rng_state,
    write_last_pointer,
)
from posekit.errors import CheckpointError
from posekit.nn.checkpoint import read_checkpoint


def _draws() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path: Path) -> None:
    random.gauss(0, 1)  # leave a cached gaussian in both generators
    np.random.standard_normal()
    save_checkpoint({"rng": rng_state()}, tmp_path / "rng.pth")
    expected = _draws()
    set_rng_state(read_checkpoint(tmp_path / "rng.pth")["rng"])
    assert _draws() == expected


def test_atomic_save_failure_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "latest.pth"
    save_checkpoint({"w": torch.ones(3)}, target)

    def broken(obj: Any, f: Any) -> None:
        f.write(b"\x80\x02 partial")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(RuntimeError, match="killed mid-write"):
        save_checkpoint({"w": torch.zeros(3)}, target)
    monkeypatch.undo()
    assert torch.equal(read_checkpoint(target)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pth"]  # no temporary file left


def test_load_refuses_code_and_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    torch.save({"obj": Path("any object that unpickles by importing code")}, bad)
    with pytest.raises(CheckpointError, match=r"bad\.pth could not be read: it needs the Python object pathlib"):
        read_checkpoint(bad)
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "nope.pth")


def test_find_latest_and_prune(tmp_path: Path) -> None:
    assert find_latest(tmp_path) is None
    for name in ("epoch_1.pth", "iter_8.pth", "epoch_2.pth"):
        save_checkpoint({}, tmp_path / name)
    assert find_latest(tmp_path) == tmp_path / "epoch_2.pth"  # newest file without a pointer
    write_last_pointer(tmp_path, tmp_path / "iter_8.pth")
    assert find_latest(tmp_path) == tmp_path / "iter_8.pth"
    save_checkpoint({}, tmp_path / "best_AP_epoch_1.pth")
    removed = prune(tmp_path, keep_last=1, protect=(tmp_path / "iter_8.pth",))
    assert sorted(p.name for p in removed) == ["epoch_1.pth"]
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["best_AP_epoch_1.pth", "epoch_2.pth", "iter_8.pth"]


def test_resume_needs_a_training_checkpoint(tiny: Any, tmp_path: Path) -> None:
    save_checkpoint({"state_dict": {}}, tmp_path / "weights.pth")
    with pytest.raises(CheckpointError, match="weights-only checkpoint"):
        tiny.train(tiny.config(tmp_path / "run"), resume=tmp_path / "weights.pth")


def test_resume_without_a_checkpoint_starts_from_scratch(tiny: Any, tmp_path: Path) -> None:
    trainer = tiny.train(tiny.config(tmp_path / "run", train={"epochs": 1, "progress": False}), resume=True)
    assert trainer.resumed_from is None and trainer.iteration == 6


def test_load_from_starts_from_the_weights_and_refuses_a_missing_file(tiny: Any, tmp_path: Path) -> None:
    """``train.load_from`` (MMPose's ``load_from``): the run starts from its weights; a missing file stops setup."""
    from posekit.config import load_config
    from posekit.engine import Trainer

    tiny.train(tiny.config(tmp_path / "a", train={"epochs": 1, "progress": False}))
    weights = tiny.load(tmp_path / "a" / "epoch_1.pth")["state_dict"]
    trainer = Trainer(load_config(tiny.config(tmp_path / "b", train__load_from=str(tmp_path / "a" / "epoch_1.pth"))))
    trainer.setup()
    assert weights.keys() == trainer.model.state_dict().keys()
    assert all(torch.equal(weights[k], v) for k, v in trainer.model.state_dict().items())
    missing = tmp_path / "gone.pth"
    with pytest.raises(CheckpointError, match=f"checkpoint '{missing}' not found"):
        Trainer(load_config(tiny.config(tmp_path / "c", train__load_from=str(missing)))).setup()
    assert not list((tmp_path / "c").glob("*.pth"))


def _final_state(work: Path) -> dict[str, Any]:
    return torch.load(work / "epoch_2.pth", map_location="cpu", weights_only=True)


def test_kill_mid_epoch_then_resume_gives_the_same_weights(tiny: Any, tmp_path: Path) -> None:
    """SIGKILL at iteration 9 (epoch 2, after iter_8.pth), resume: bit-identical to an uninterrupted run.

    Dropout (torch RNG), shuffling, per-sample noise, AdamW, warmup + cosine LR and EMA all
    continue from the checkpoint's state.
    """
    cfg = tiny.config(
        tmp_path / "unused",
        model={"type": "TinyEstimator", "dropout": 0.2},
        optim={
            "optimizer": {"type": "AdamW", "lr": 0.01, "weight_decay": 0.05},
            "scheduler": {"policy": "cosine", "warmup_iters": 3},
        },
        train={
            "epochs": 2,
            "progress": False,
        },
        hooks={
            "checkpoint": {"save_best": "tiny/score", "every_iters": 4},
            "logger": {"interval": 2},
            "ema": {"enabled": True, "momentum": 0.1, "gamma": 10},
        },
    )
    path = tiny.write(tmp_path / "cfg.json", cfg)
    full, broken = tmp_path / "full", tmp_path / "broken"
    done = tiny.run_cli(["train", str(path), "--work-dir", str(full)])
    assert done.returncode == 0, done.stderr

    killed = tiny.run_cli(["train", str(path), "--work-dir", str(broken)], env={"POSEKIT_TINY_KILL_AT": "9"})
    assert killed.returncode == -9, killed.stderr
    assert (broken / "last_checkpoint").read_text().strip() == "iter_8.pth"
    assert not (broken / "epoch_2.pth").exists()

    resumed = tiny.run_cli(["train", str(path), "--work-dir", str(broken), "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr and "iter_8.pth" in resumed.stderr

    a, b = _final_state(full), _final_state(broken)
    for section in ("state_dict", "ema_state_dict"):
        assert a[section].keys() == b[section].keys()
        for k in a[section]:
            assert torch.equal(a[section][k], b[section][k]), f"{section}.{k} differs after resume"
    for pid, state in a["optimizer"]["state"].items():
        assert torch.equal(state["exp_avg"], b["optimizer"]["state"][pid]["exp_avg"])
    assert a["scheduler"] == b["scheduler"] and a["best"] == b["best"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    # the killed run's lines after iteration 8 were dropped and rewritten by the resumed run
    logs = [[json.loads(line) for line in (w / "scalars.jsonl").read_text().splitlines()] for w in (full, broken)]
    assert [(r["mode"], r["iter"], r.get("loss")) for r in logs[0]] == [
        (r["mode"], r["iter"], r.get("loss")) for r in logs[1]
    ]


def test_checkpoint_names_the_distributions_it_needs(tiny: Any, tmp_path: Path) -> None:
    """``meta.distributions`` records who provided each component; a missing one is named with its version."""
    work = tmp_path / "run"
    tiny.train(tiny.config(work, train={"epochs": 1, "progress": False}))
    ckpt = tiny.load(work / "epoch_1.pth")
    recorded = ckpt["meta"]["distributions"]
    assert {name: dist for name, (dist, _) in recorded.items()} == {
        "TinyEstimator": "posekit-tiny",
        "TinyDataset": "posekit-tiny",
        "TinyMetric": "posekit-tiny",
    }
    ckpt["meta"]["distributions"]["GoneHead"] = ("posekit-gone", "2.1.0")
    save_checkpoint(ckpt, work / "epoch_1.pth")
    with pytest.raises(
        CheckpointError,
        match=r"GoneHead \(from posekit-gone 2\.1\.0\)"
        r".*pip install 'posekit-gone==2\.1\.0'",
    ):
        tiny.train(tiny.config(work, train={"epochs": 2, "progress": False}), resume=work / "epoch_1.pth")
