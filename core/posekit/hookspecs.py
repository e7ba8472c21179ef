"""The trainer's lifecycle (and the served model's rewrite) as pluggy hookspecs, implemented by ``posekit.hooks``
entry points (the core's too).

An implementation may accept any subset of the named arguments (``def after_train_iter(trainer, outputs)``);
ordering uses ``tryfirst``/``trylast``. Unless stated, every implementation is called, results ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from torch import nn

    from posekit.engine.trainer import Trainer
    from posekit.structures import PoseBatch

hookspec = pluggy.HookspecMarker("posekit")
hookimpl = pluggy.HookimplMarker("posekit")


# --------------------------------------------------------------------------- run


@hookspec
def before_run(trainer: Trainer) -> None:
    """Called once before the first epoch (after a resume has restored state).

    :param trainer: the running trainer; hooks may add attributes and read ``trainer.cfg``.
    """


@hookspec
def after_run(trainer: Trainer) -> None:
    """Called once after the last epoch, also when the run stops early (e.g. a NaN loss)."""


# --------------------------------------------------------------------------- epoch


@hookspec
def before_train_epoch(trainer: Trainer, epoch: int) -> None:
    """Called at the start of each training epoch.

    :param epoch: the epoch about to run (0-based).
    """


@hookspec
def after_train_epoch(trainer: Trainer, epoch: int) -> None:
    """Called at the end of each training epoch, before validation and checkpointing.

    :param epoch: the epoch that finished (0-based).
    """


# --------------------------------------------------------------------------- iteration


@hookspec
def before_train_iter(trainer: Trainer, batch_idx: int, batch: PoseBatch) -> None:
    """Called before each optimisation step.

    :param batch_idx: index of the batch in the epoch.
    :param batch: the batch (may be inspected, not replaced).
    """


@hookspec
def after_train_iter(trainer: Trainer, batch_idx: int, batch: PoseBatch, outputs: dict[str, float]) -> None:
    """Called after each optimisation step.

    :param trainer: the trainer (``trainer.iteration`` already counts this step).
    :param batch_idx: index of the batch in the epoch.
    :param outputs: the step's scalars (``loss``, each ``loss_*``, ``acc_*``, ``lr``, ``grad_norm``).
    """


# --------------------------------------------------------------------------- validation


@hookspec
def before_val(trainer: Trainer, epoch: int) -> None:
    """Called before a validation pass (EMA swaps its averaged weights in here).

    :param epoch: the epoch just trained.
    """


@hookspec
def after_val(trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
    """Called after a validation pass with its metrics (EMA swaps weights back here).

    :param epoch: the epoch just trained.
    :param metrics: metric name -> value, e.g. ``{"coco/AP": 0.71}``.
    """


@hookspec(firstresult=True)
def run_validation(trainer: Trainer, epoch: int) -> dict[str, float] | None:
    """Run the validation pass and return its metrics; the first non-None result wins.

    :param epoch: the epoch just trained.
    """


# --------------------------------------------------------------------------- logging


@hookspec
def log_scalars(trainer: Trainer, row: dict[str, Any]) -> None:
    """Called on rank 0 with each row the ``logger`` hook writes to ``scalars.jsonl`` (for other log writers).

    :param row: ``{"mode": "train" | "val", "epoch": int (1-based), "iter": int, <scalar>: float, ...}``
        (read only).
    """


# --------------------------------------------------------------------------- checkpoint


@hookspec
def on_save_checkpoint(trainer: Trainer, checkpoint: dict[str, Any]) -> None:
    """Called before a checkpoint dict is written; hooks may add their own state to it.

    :param checkpoint: the dict about to be saved (mutable).
    """


@hookspec
def on_load_checkpoint(trainer: Trainer, checkpoint: dict[str, Any]) -> None:
    """Called after a checkpoint is read for a resume, before the trainer applies it: hooks restore their
    state and may rewrite entries (EMA swaps the averaged and the raw weights back here).

    :param checkpoint: the loaded dict (mutable).
    """


# --------------------------------------------------------------------------- serving


@hookspec(firstresult=True)
def optimize_model(model: nn.Module) -> nn.Module | None:
    """Called by ``posekit.init_model`` on a model it serves (eval mode, BatchNorm folded, channels_last): return
    it rewritten to serve faster, outputs equal to float rounding; the first non-None result wins, and without
    one the model serves as it is. A replaced ``extract_feat`` keeps the eager method as its ``eager``.

    :param model: the estimator, on its device.
    """
