"""Hook plugins from a throw-away distribution are called in the lifecycle's order, with their arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import posekit


def test_hooks_are_called_in_order(tiny: Any, tmp_path: Path) -> None:
    import posekit_tiny_hooks

    calls = posekit_tiny_hooks.CALLS
    calls.clear()
    cfg = tiny.config(tmp_path / "run", train={"epochs": 2, "progress": False, "val_interval": 2})
    cfg["data"]["train"]["dataset"]["num_samples"] = 8  # 2 iterations per epoch
    tiny.train(cfg)
    names = [c[0] for c in calls]
    per_iter = ["before_train_iter", "after_train_iter"]
    assert names == [
        "before_run",
        "before_train_epoch",
        *per_iter,
        *per_iter,
        "after_train_epoch",
        "on_save_checkpoint",  # epoch_1 (no validation after epoch 1)
        "before_train_epoch",
        *per_iter,
        *per_iter,
        "after_train_epoch",
        "on_save_checkpoint",  # epoch_2, before validation (a failing validation never costs it)
        "before_val",
        "after_val",
        "on_save_checkpoint",  # best
        "on_save_checkpoint",  # epoch_2 again, carrying the new best
        "after_run",
    ]
    assert calls[0] == ("before_run",)
    assert calls[1] == ("before_train_epoch", 0)
    assert calls[2] == ("before_train_iter", 0, 4)
    assert calls[3][:2] == ("after_train_iter", 1)
    assert {"loss", "loss_kpt", "acc_pose", "lr", "grad_norm", "time", "data_time"} <= set(calls[3][2])
    assert calls[names.index("after_val")] == ("after_val", 1, ["tiny/mae", "tiny/score"])
    assert calls[-1] == ("after_run", True)


def test_hook_state_reaches_the_checkpoint_and_back(tiny: Any, tmp_path: Path) -> None:
    import posekit_tiny_hooks

    work = tmp_path / "run"
    tiny.train(tiny.config(work, train={"epochs": 1, "progress": False}))
    posekit_tiny_hooks.CALLS.clear()
    tiny.train(tiny.config(work, train={"epochs": 2, "progress": False}), resume=True)
    assert posekit_tiny_hooks.CALLS[0] == ("on_load_checkpoint", 6)
    assert posekit_tiny_hooks.CALLS[1] == ("before_run",)


def test_ema_swaps_before_validation_and_into_the_checkpoint(tiny: Any, tmp_path: Path) -> None:
    """Validation sees the averaged weights; the checkpoint's state_dict holds them, ema_state_dict the raw ones."""
    import torch

    seen: dict[str, torch.Tensor] = {}

    class Probe:
        @posekit.hookimpl
        def after_val(self, trainer: object) -> None:  # runs after EMA swapped back (EMA's is tryfirst)
            seen["after_val"] = trainer.model.net[0].weight.detach().clone()  # type: ignore[attr-defined]

        @posekit.hookimpl
        def run_validation(self, trainer: object) -> None:  # called before the core's evaluation, returns nothing
            seen["val"] = trainer.model.net[0].weight.detach().clone()  # type: ignore[attr-defined]

    work = tmp_path / "run"
    ema = {"enabled": True, "momentum": 0.2, "gamma": 5}
    trainer = tiny.train(tiny.config(work, train={"epochs": 1, "progress": False}, hooks__ema=ema), plugins=[Probe()])
    averaged = trainer.hook_state["ema"].module.net[0].weight
    raw = trainer.model.net[0].weight
    assert not torch.equal(averaged, raw)
    assert torch.equal(seen["val"], averaged)
    assert torch.equal(seen["after_val"], raw)
    ckpt = torch.load(work / "epoch_1.pth", map_location="cpu", weights_only=True)
    assert torch.equal(ckpt["state_dict"]["net.0.weight"], averaged)
    assert torch.equal(ckpt["ema_state_dict"]["module.net.0.weight"], raw)
    assert int(ckpt["ema_state_dict"]["steps"]) == 6
