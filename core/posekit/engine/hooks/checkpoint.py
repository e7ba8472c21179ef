"""``checkpoint`` (rank 0 writes): ``epoch_N.pth`` before that epoch's validation (again after it when the best
changed), ``iter_N.pth`` every ``every_iters`` and at a ``max_iters`` end, ``best_<metric>_epoch_N.pth``; the
``keep_last`` newest owned files kept. NaN/inf weights are never written; a run without one finite fails."""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from posekit.engine.checkpoint import prune, save_checkpoint, write_last_pointer
from posekit.engine.workdir import adopted_checkpoints, remove_stale_temporaries
from posekit.hookspecs import hookimpl

log = logging.getLogger("posekit.train")


class CheckpointConfig(BaseModel):
    """``hooks.checkpoint``: when to write checkpoints and which to keep."""

    model_config = ConfigDict(extra="forbid")

    interval: int = Field(1, ge=1)  # epochs between epoch_N.pth files
    every_iters: int | None = Field(None, ge=1)  # also write iter_N.pth every N iterations
    keep_last: int = Field(2, ge=1)  # epoch_/iter_ files kept
    save_best: str | None = None  # metric name, e.g. "coco/AP"
    save_best_rule: Literal["greater", "less"] = "greater"


config_model = CheckpointConfig


def _cfg(trainer: Any) -> CheckpointConfig:
    return trainer.cfg.hooks.section("checkpoint")


def _state(trainer: Any) -> dict[str, Any]:
    return trainer.hook_state.setdefault(
        "checkpoint", {"best": None, "last_saved": None, "due": False, "owned": set(), "written": 0, "refused": 0}
    )


def _epoch_due(trainer: Any, epoch: int) -> bool:
    return (epoch + 1) % _cfg(trainer).interval == 0 or epoch + 1 == trainer.max_epochs


def save(trainer: Any, name: str, resume_point: bool = True) -> Path | None:
    """Write the trainer's checkpoint as ``work_dir/name`` (rank 0 only); a ``resume_point`` (not a best file)
    is named by ``last_checkpoint`` and prunes older ones."""
    st = _state(trainer)
    if resume_point:
        st["last_saved"], st["due"] = trainer.iteration, False
    if not trainer.is_main:
        return None
    ckpt = trainer.checkpoint()
    if not all(bool(torch.isfinite(v).all()) for v in ckpt["state_dict"].values() if v.is_floating_point()):
        st["refused"] += 1
        log.error("not writing %s: the model weights contain NaN or inf (the previous checkpoints are kept)", name)
        return None
    path = save_checkpoint(ckpt, trainer.work_dir / name)
    st["written"] += 1
    if resume_point:
        st["owned"].add(path.resolve())
        write_last_pointer(trainer.work_dir, path)
        prune(trainer.work_dir, _cfg(trainer).keep_last, protect=(path,), owned=st["owned"])
    log.info("saved checkpoint %s", path)
    return path


@hookimpl
def before_run(trainer: Any) -> None:
    st = _state(trainer)
    st["owned"] = adopted_checkpoints(trainer.work_dir, trainer.resumed_from)
    st["resumed"] = trainer.resumed_from is not None
    if trainer.is_main:
        remove_stale_temporaries(trainer.work_dir)


@hookimpl
def on_save_checkpoint(trainer: Any, checkpoint: dict[str, Any]) -> None:
    best = _state(trainer)["best"]
    if best is not None:
        checkpoint["best"] = dict(best)


@hookimpl
def on_load_checkpoint(trainer: Any, checkpoint: dict[str, Any]) -> None:
    st = _state(trainer)
    st["best"] = dict(checkpoint["best"]) if "best" in checkpoint else None
    st["last_saved"] = int(checkpoint["loop"]["iteration"])


@hookimpl(trylast=True)
def after_train_iter(trainer: Any, batch_idx: int) -> None:
    every = _cfg(trainer).every_iters
    if every is None:
        return
    st = _state(trainer)
    if trainer.iteration % every == 0:
        st["due"] = True
    if not st["due"] or trainer.accumulating:
        return
    if batch_idx + 1 == trainer.iters_per_epoch and _epoch_due(trainer, trainer.epoch):
        return  # the epoch's checkpoint follows
    save(trainer, f"iter_{trainer.iteration}.pth")


@hookimpl(trylast=True)
def after_train_epoch(trainer: Any, epoch: int) -> None:
    if _epoch_due(trainer, epoch):
        save(trainer, f"epoch_{epoch + 1}.pth")


@hookimpl(trylast=True)
def after_val(trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
    st = _state(trainer)
    metric = _cfg(trainer).save_best
    if metric is not None and metrics:
        if metric not in metrics:
            log.warning("hooks.checkpoint.save_best=%r is not among the validation metrics %s", metric, sorted(metrics))
        elif _update_best(trainer, st, metric, float(metrics[metric]), epoch) and _epoch_due(trainer, epoch):
            save(trainer, f"epoch_{epoch + 1}.pth")  # again, now carrying the new best


def _update_best(trainer: Any, st: dict[str, Any], metric: str, value: float, epoch: int) -> bool:
    """Record ``value`` when it beats the best so far and write the best file; return whether it did."""
    best = st["best"]
    if not math.isfinite(value):
        return False
    if best is not None:
        greater = _cfg(trainer).save_best_rule == "greater"
        if (value <= best["value"]) if greater else (value >= best["value"]):
            return False
    name = f"best_{metric.replace('/', '_')}_epoch_{epoch + 1}.pth"
    previous = best["file"] if best is not None else None
    st["best"] = {"metric": metric, "value": value, "epoch": epoch + 1, "file": name}
    if save(trainer, name, resume_point=False) is not None and previous and previous != name:
        with contextlib.suppress(FileNotFoundError):
            (trainer.work_dir / previous).unlink()
    log.info("best %s = %.4f at epoch %d", metric, value, epoch + 1)
    return True


@hookimpl(trylast=True)
def after_run(trainer: Any) -> None:
    st = _state(trainer)
    if trainer.finished and st["last_saved"] != trainer.iteration:
        save(trainer, f"iter_{trainer.iteration}.pth")
    if trainer.is_main and trainer.stop_reason is None and st["refused"] and not st["written"] and not st["resumed"]:
        trainer.finished = False
        trainer.stop_reason = (
            f"the run never produced a finite checkpoint: all {st['refused']} save(s) were refused because "
            f"the weights held NaN or inf (check optim.optimizer.lr and the data); nothing in {trainer.work_dir} "
            "can be used"
        )
        log.error(trainer.stop_reason)
