"""``timer``: ``outputs["time"]`` since the previous iteration ended and ``outputs["data_time"]`` waiting for the
batch (seconds)."""

from __future__ import annotations

import time
from typing import Any

from posekit.hookspecs import hookimpl


def _state(trainer: Any) -> dict[str, float]:
    return trainer.hook_state.setdefault("timer", {})


@hookimpl
def before_train_epoch(trainer: Any) -> None:
    _state(trainer)["last"] = time.perf_counter()


@hookimpl
def before_train_iter(trainer: Any) -> None:
    st = _state(trainer)
    st["data_time"] = time.perf_counter() - st["last"]


@hookimpl(tryfirst=True)
def after_train_iter(trainer: Any, outputs: dict[str, float]) -> None:
    st = _state(trainer)
    now = time.perf_counter()
    outputs["time"] = now - st["last"]
    outputs["data_time"] = st["data_time"]
    st["last"] = now
