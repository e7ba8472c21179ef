"""Faults: a broken config fails before any data loads; a NaN loss stops cleanly and keeps the good checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from posekit.cli import main

COCO_PIPELINE_CASE = {
    "type": "CocoDataset",
    "ann_file": "missing.json",
    "pipeline": [{"type": "LoadImage"}, {"type": "TopdownAfine", "input_size": [192, 256]}],
}

# (field path, bad value, expected text in the error)
BROKEN: list[tuple[tuple[Any, ...], Any, str]] = [
    (("model", "type"), "TinyEstimatr", "unknown estimator 'TinyEstimatr'. Did you mean: TinyEstimator"),
    (("model", "hidden"), "wide", "hidden"),
    (("data", "train", "dataset", "type"), "TinyDatset", "unknown dataset 'TinyDatset'. Did you mean: TinyDataset"),
    (("data", "val", "dataset", "num_samples"), "eight", "num_samples"),
    (("data", "train", "dataset"), COCO_PIPELINE_CASE, "unknown transform 'TopdownAfine'"),
    (("evaluator", 0, "type"), "TinyMetrc", "unknown metric 'TinyMetrc'. Did you mean: TinyMetric"),
    (("hooks", "disable"), ["chekpoint"], "unknown hook 'chekpoint'. Did you mean: checkpoint?"),
    (("optim", "optimizer", "type"), "Adagrad", "optim.optimizer.type"),
    (("train", "nan_policy"), "ignore", "train.nan_policy"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BROKEN, ids=[".".join(map(str, c[0])) for c in BROKEN])
def test_broken_config_fails_before_data_loads(
    tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], path: tuple[Any, ...], value: Any, expected: str
) -> None:
    cfg = tiny.config(tmp_path / "run")
    node: Any = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
    node[path[-1]] = value
    code = main(["train", str(tiny.write(tmp_path / "cfg.json", cfg))])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err, err
    import posekit_tiny

    assert posekit_tiny.LOADED == []  # no dataset was built
    assert not (tmp_path / "run").exists()


def _nan_config(tiny: Any, work: Path, policy: str) -> dict[str, Any]:
    cfg = tiny.config(
        work, train={"epochs": 2, "progress": False, "nan_policy": policy}, hooks__checkpoint__every_iters=2
    )
    cfg["data"]["train"]["shuffle"] = False
    cfg["data"]["train"]["dataset"]["nan_index"] = 13  # batch 4 of each epoch (samples 12..15)
    return cfg


def test_nan_loss_stops_cleanly_and_keeps_the_good_checkpoint(
    tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import posekit_tiny_hooks

    posekit_tiny_hooks.CALLS.clear()
    work = tmp_path / "run"
    code = main(["train", str(tiny.write(tmp_path / "cfg.json", _nan_config(tiny, work, "stop")))])
    err = capsys.readouterr().err
    assert code == 1
    assert "non-finite loss (loss=nan, loss_kpt=nan" in err
    assert "at iteration 4 (epoch 1, batch 4/6)" in err
    assert sorted(p.name for p in work.glob("*.pth")) == ["iter_2.pth"]
    assert (work / "last_checkpoint").read_text().strip() == "iter_2.pth"
    ckpt = torch.load(work / "iter_2.pth", map_location="cpu", weights_only=True)
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    assert posekit_tiny_hooks.CALLS[-1] == ("after_run", False)
    assert "non-finite loss" in (work / "train.log").read_text()


def test_nan_policy_skip_skips_the_step(tiny: Any, tmp_path: Path) -> None:
    trainer = tiny.train(_nan_config(tiny, tmp_path / "run", "skip"))
    assert trainer.finished and trainer.iteration == 12 and trainer.skipped_iters == 2
    assert all(torch.isfinite(v).all() for v in trainer.model.state_dict().values())
    rows = [json.loads(line) for line in (tmp_path / "run" / "scalars.jsonl").read_text().splitlines()]
    assert all(r["loss"] == r["loss"] for r in rows if r["mode"] == "train" and "loss" in r)  # no NaN logged


def test_nan_weights_are_never_saved(tiny: Any, tmp_path: Path) -> None:
    from posekit.engine.hooks.checkpoint import save

    work = tmp_path / "run"
    trainer = tiny.train(tiny.config(work, train={"epochs": 1, "progress": False}))
    before = (work / "epoch_1.pth").read_bytes()
    with torch.no_grad():
        trainer.model.net[0].weight[0, 0] = float("nan")
    assert save(trainer, "epoch_1.pth") is None
    assert (work / "epoch_1.pth").read_bytes() == before


def test_failed_save_during_training_keeps_the_latest_loadable(
    tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.save raising half-way through the second checkpoint leaves the first intact and named latest."""
    from posekit.engine import checkpoint as ckpt_mod

    real_save = torch.save
    calls = {"n": 0}

    def flaky_save(obj: Any, f: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            f.write(b"\x80\x02 half a pickle")
            raise OSError("No space left on device")
        real_save(obj, f)

    monkeypatch.setattr(ckpt_mod.torch, "save", flaky_save)
    work = tmp_path / "run"
    cfg = tiny.config(work, train={"epochs": 1, "progress": False}, hooks__checkpoint__every_iters=2)
    with pytest.raises(OSError, match="No space left"):
        tiny.train(cfg)
    monkeypatch.setattr(ckpt_mod.torch, "save", real_save)
    assert sorted(p.name for p in work.iterdir() if p.suffix in (".pth", ".tmp")) == ["iter_2.pth"]
    assert not list(work.glob(".*.tmp"))
    assert (work / "last_checkpoint").read_text().strip() == "iter_2.pth"
    resumed = tiny.train(tiny.config(work, train={"epochs": 1, "progress": False}), resume=True)
    assert resumed.resumed_from == work / "iter_2.pth" and resumed.iteration == 6
