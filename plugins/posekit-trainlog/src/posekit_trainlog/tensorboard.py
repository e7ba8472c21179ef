"""``tensorboard``: the ``logger`` hook's scalar rows as TensorBoard scalars in ``work_dir/tensorboard/`` (rank 0).

A row ``{"mode": "train", "iter": 20, "loss": 0.1, ...}`` becomes ``train/loss`` at step 20. Without
the ``tensorboard`` package (``torch.utils.tensorboard`` cannot import) the hook does nothing.
"""

from __future__ import annotations

from typing import Any

from posekit import hookimpl

#: the row keys that place a row rather than hold a scalar
PLACE_KEYS = ("mode", "epoch", "iter")


def _writer(trainer: Any) -> Any:
    return trainer.hook_state.get("tensorboard")


@hookimpl
def before_run(trainer: Any) -> None:
    if not trainer.is_main:
        return
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    trainer.hook_state["tensorboard"] = SummaryWriter(str(trainer.work_dir / "tensorboard"))


@hookimpl
def log_scalars(trainer: Any, row: dict[str, Any]) -> None:
    writer = _writer(trainer)
    if writer is None:
        return
    for key, value in row.items():
        if key not in PLACE_KEYS and value is not None:
            writer.add_scalar(f"{row['mode']}/{key}", value, row["iter"])


@hookimpl(trylast=True)
def after_run(trainer: Any) -> None:
    writer = trainer.hook_state.pop("tensorboard", None)
    if writer is not None:
        writer.close()
