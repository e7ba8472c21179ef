"""End-to-end runs of the trainer on the tiny plugin: files, determinism, accumulation, AMP, hooks, CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch


def test_train_writes_checkpoints_and_logs(tiny: Any, tmp_path: Path) -> None:
    import posekit_tiny_hooks

    posekit_tiny_hooks.ROWS.clear()
    work = tmp_path / "run"
    trainer = tiny.train(tiny.config(work, hooks__checkpoint__keep_last=1))
    assert trainer.finished and trainer.stop_reason is None
    assert trainer.iteration == 12  # 2 epochs of 24 / 4
    files = sorted(p.name for p in work.iterdir())
    assert "epoch_2.pth" in files and "epoch_1.pth" not in files  # keep_last=1
    assert (work / "last_checkpoint").read_text().strip() == "epoch_2.pth"
    best = [f for f in files if f.startswith("best_tiny_score_epoch_")]
    assert len(best) == 1, files
    assert {"scalars.jsonl", "train.log"} <= set(files)
    rows = [json.loads(line) for line in (work / "scalars.jsonl").read_text().splitlines()]
    assert rows == posekit_tiny_hooks.ROWS  # each row also went to the log_scalars hook
    train_rows = [r for r in rows if r["mode"] == "train"]
    val_rows = [r for r in rows if r["mode"] == "val"]
    assert [r["iter"] for r in train_rows] == [2, 4, 6, 8, 10, 12]
    assert {"loss", "loss_kpt", "acc_pose", "lr", "grad_norm", "time", "data_time"} <= set(train_rows[0])
    assert [r["epoch"] for r in val_rows] == [1, 2] and "tiny/mae" in val_rows[0]
    assert train_rows[-1]["loss"] < train_rows[0]["loss"]
    ckpt = torch.load(work / "epoch_2.pth", map_location="cpu", weights_only=True)
    assert {"meta", "state_dict", "optimizer", "scheduler", "loop", "rng", "best"} <= set(ckpt)
    assert ckpt["meta"]["config"]["model"]["type"] == "TinyEstimator"
    assert ckpt["meta"]["epoch"] == 2 and ckpt["meta"]["iter"] == 12
    assert ckpt["best"]["metric"] == "tiny/score"
    assert best[0] == ckpt["best"]["file"]


def test_same_seed_same_weights_and_seed_matters(tiny: Any, tmp_path: Path) -> None:
    cfg = {"model": {"type": "TinyEstimator", "dropout": 0.2}, "train": {"epochs": 1, "progress": False}}
    a = tiny.train(tiny.config(tmp_path / "a", **cfg))
    b = tiny.train(tiny.config(tmp_path / "b", **cfg))
    c = tiny.train(tiny.config(tmp_path / "c", **{**cfg, "train": {"epochs": 1, "progress": False, "seed": 1}}))
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert not torch.equal(a.model.state_dict()["net.0.weight"], c.model.state_dict()["net.0.weight"])


def test_loader_workers_do_not_change_the_run(tiny: Any, tmp_path: Path) -> None:
    """Per-sample seeds reach persistent worker processes: 2 workers train exactly as 0 do."""
    base = {"train": {"epochs": 2, "progress": False}}
    a = tiny.train(tiny.config(tmp_path / "a", **base))
    cfg = tiny.config(tmp_path / "b", **base)
    cfg["data"]["train"].update(num_workers=2, persistent_workers=True)
    b = tiny.train(cfg)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k


def test_max_iters_stops_mid_epoch_and_saves(tiny: Any, tmp_path: Path) -> None:
    trainer = tiny.train(tiny.config(tmp_path / "run", train__max_iters=4, train__progress=False))
    assert trainer.iteration == 4 and trainer.finished
    ckpt = torch.load(tmp_path / "run" / "iter_4.pth", map_location="cpu", weights_only=True)
    assert ckpt["loop"]["batch_in_epoch"] == 4 and not ckpt["loop"]["epoch_done"]


def test_gradient_accumulation_matches_a_larger_batch(tiny: Any, tmp_path: Path) -> None:
    """accumulate=2 with batch 4 takes the steps of batch 8 (mean loss; no noise, no shuffle)."""
    common = {"train": {"epochs": 1, "progress": False}, "optim": {"optimizer": {"type": "SGD", "lr": 0.1}}}
    a = tiny.config(tmp_path / "a", **common)
    a["data"]["train"].update(batch_size=8, shuffle=False)
    b = tiny.config(tmp_path / "b", **common)
    b["data"]["train"].update(batch_size=4, shuffle=False)
    b["optim"]["accumulate"] = 2
    for c in (a, b):
        c["data"]["train"]["dataset"]["noise"] = 0.0
        c["model"]["norm"] = False
    ta, tb = tiny.train(a), tiny.train(b)
    assert tb.iteration == 2 * ta.iteration
    for k, v in ta.model.state_dict().items():
        torch.testing.assert_close(tb.model.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_amp_bf16_on_cpu_and_clipping(tiny: Any, tmp_path: Path) -> None:
    trainer = tiny.train(
        tiny.config(tmp_path / "run", optim={"amp": True, "clip_grad": 0.5}, train={"epochs": 1, "progress": False})
    )
    assert trainer.finished
    rows = [json.loads(line) for line in (tmp_path / "run" / "scalars.jsonl").read_text().splitlines()]
    assert all(r["grad_norm"] >= 0 for r in rows if r["mode"] == "train")


def test_hooks_can_be_disabled_by_name(tiny: Any, tmp_path: Path) -> None:
    import posekit_tiny_hooks

    posekit_tiny_hooks.CALLS.clear()
    work = tmp_path / "run"
    tiny.train(tiny.config(work, hooks={"disable": ["checkpoint", "tiny_recorder"]}, train__epochs=1))
    assert not list(work.glob("*.pth"))
    assert posekit_tiny_hooks.CALLS == []
    assert (work / "scalars.jsonl").is_file()


def test_hooks_enable_only_named(tiny: Any, tmp_path: Path) -> None:
    work = tmp_path / "run"
    tiny.train(tiny.config(work, hooks={"enable": ["checkpoint"]}, train__epochs=1))
    assert (work / "epoch_1.pth").is_file()
    assert not (work / "scalars.jsonl").exists()  # logger off
    ckpt = torch.load(work / "epoch_1.pth", map_location="cpu", weights_only=True)
    assert "best" not in ckpt  # evaluation off: no validation ran


def test_cli_train_and_test(tiny: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main

    cfg = tiny.write(tmp_path / "cfg.json", tiny.config(tmp_path / "unused", train__epochs=1))
    work = tmp_path / "run"
    assert main(["train", str(cfg), "--work-dir", str(work), "--set", "train.seed=3"]) == 0
    ckpt = torch.load(work / "epoch_1.pth", map_location="cpu", weights_only=True)
    assert ckpt["meta"]["config"]["train"]["seed"] == 3
    assert ckpt["meta"]["config"]["work_dir"] == str(work)
    capsys.readouterr()
    out = tmp_path / "metrics.json"
    assert main(["test", str(cfg), "--checkpoint", str(work / "epoch_1.pth"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tiny/mae" in printed
    metrics = json.loads(out.read_text())
    assert metrics["tiny/mae"] == pytest.approx(-metrics["tiny/score"])


def test_cli_test_evaluates_a_results_file_without_a_model(
    tiny: Any, shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``posekit test --results`` on the COCO metric fixture reproduces pycocotools' numbers (1e-9)."""
    from posekit.cli import main

    fixture = shared / "fixtures" / "mmpose" / "metrics" / "coco_coco-sample.json"
    ref = json.loads(fixture.read_text())
    results = tmp_path / "results.json"
    results.write_text(json.dumps(ref["predictions"]))
    cfg = tiny.config(tmp_path / "run", evaluator=[{"type": "CocoMetric", "ann_file": str(shared / ref["ann_file"])}])
    cfg["metainfo"] = "coco"
    out = tmp_path / "metrics.json"
    code = main(["test", str(tiny.write(tmp_path / "cfg.json", cfg)), "--results", str(results), "--out", str(out)])
    assert code == 0
    assert "coco/AP " in capsys.readouterr().out
    metrics = json.loads(out.read_text())
    for name, value in ref["stats_by_name"].items():
        assert abs(metrics[f"coco/{name}"] - value) <= 1e-9, f"{name} differs from {fixture}"
