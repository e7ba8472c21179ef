"""``evaluation``: the validation pass with fresh ``evaluator`` metrics; before the first step the metrics are
built and the first validation sample loaded, so a missing file fails in seconds."""

from __future__ import annotations

from typing import Any

from posekit.engine.evaluation import build_metrics, evaluate
from posekit.errors import ConfigError, PosekitError
from posekit.hookspecs import hookimpl


@hookimpl
def before_run(trainer: Any) -> None:
    if trainer.val_loader is None or not trainer.cfg.evaluator:
        return
    build_metrics(trainer.cfg.evaluator, getattr(trainer.val_dataset, "metainfo", None))
    if len(trainer.val_dataset) == 0:
        raise ConfigError(f"data.val.dataset ({trainer.cfg.data.val.dataset.get('type')}) has no samples")
    try:
        trainer.val_dataset[0]
    except (OSError, PosekitError) as e:
        raise ConfigError(f"data.val.dataset: the first validation sample cannot be loaded: {e}") from e


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
