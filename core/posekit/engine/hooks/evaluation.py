"""``evaluation``: the validation pass, with fresh metrics from the config's ``evaluator``."""

from __future__ import annotations

from typing import Any

from posekit.engine.evaluation import build_metrics, evaluate
from posekit.hookspecs import hookimpl


@hookimpl
def run_validation(trainer: Any, epoch: int) -> dict[str, float] | None:
    if trainer.val_loader is None or not trainer.cfg.evaluator:
        return None
    metrics = build_metrics(trainer.cfg.evaluator, getattr(trainer.val_dataset, "metainfo", None))
    return evaluate(
        trainer.model,
        trainer.val_loader,
        metrics,
        autocast=trainer.autocast,
        progress=trainer.is_main and trainer.cfg.train.progress,
        desc=f"val {epoch + 1}",
    )
