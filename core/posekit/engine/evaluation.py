"""The evaluation pass shared by validation (during training) and ``posekit test``."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from posekit.config.schema import Experiment
from posekit.engine import dist
from posekit.engine.loader import build_eval_loader
from posekit.engine.runtime import autocast
from posekit.errors import ConfigError
from posekit.registry import build


def build_metrics(cfgs: Sequence[Mapping[str, Any]], dataset_meta: Any) -> list[Any]:
    """Fresh metrics from ``evaluator`` configs, told ``dataset_meta`` (``dataset.metainfo`` or MMPose's dict)."""
    metrics = [build("metric", dict(c), where=f"evaluator[{i}]") for i, c in enumerate(cfgs)]
    if dataset_meta is not None:
        for m in metrics:
            m.dataset_meta = dataset_meta
    return metrics


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader | Iterable[Any],
    metrics: Sequence[Any],
    *,
    autocast: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
    progress: bool = False,
    desc: str = "val",
) -> dict[str, float]:
    """``{name: value}`` of ``metrics`` (gathered over processes, on every rank) over the predictions of the
    unwrapped ``model`` (eval mode, then back) on every batch, forwards inside ``autocast()``."""
    was_training = model.training
    model.eval()
    try:
        batches = loader
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True)
        for batch in batches:
            batch = model.data_preprocessor(batch, False)
            with autocast():
                results = model(batch.inputs, batch, "predict")
            for m in metrics:
                m.process(results)
    finally:
        model.train(was_training)
    return {k: float(v) for m in metrics for k, v in m.evaluate().items()}


def evaluate_checkpoint(cfg: Experiment, checkpoint: str | Path) -> dict[str, float] | None:
    """The metrics of ``checkpoint`` (posekit's or MMPose's) on ``cfg.data.test`` (else ``data.val``): on rank 0,
    None on the other ranks under ``torchrun``."""
    from posekit.apis import init_model

    split, where = (cfg.data.test, "data.test") if cfg.data.test is not None else (cfg.data.val, "data.val")
    if split is None:
        raise ConfigError("data.test: testing needs a test (or val) split")
    if not cfg.evaluator:
        raise ConfigError("evaluator: testing needs at least one metric")
    device = dist.resolve_device(cfg.train.device)
    owns_group = dist.init_from_env(device)
    try:
        rank, world_size = dist.get_rank(), dist.get_world_size()
        model = init_model(cfg, checkpoint, device=device)
        dataset = build("dataset", split.dataset, where=f"{where}.dataset")
        loader = build_eval_loader(dataset, split, cfg.train.seed, rank, world_size, device, persistent=False)
        metrics = build_metrics(cfg.evaluator, getattr(dataset, "metainfo", None))
        amp = functools.partial(autocast, device.type, cfg.optim.amp)
        out = evaluate(model, loader, metrics, autocast=amp, progress=rank == 0 and cfg.train.progress)
        return out if rank == 0 else None
    finally:
        if owns_group:
            dist.leave_group()


def evaluate_results(cfg: Experiment, results_file: str | Path) -> dict[str, float]:
    """The statistics of a results file a metric wrote, without a model: from the first evaluator whose class
    declares the classmethod ``evaluate_results_file(file, metric cfg, dataset cfg, metainfo)``."""
    from posekit.registry import get

    split = cfg.data.test if cfg.data.test is not None else cfg.data.val
    dataset_cfg = dict(split.dataset) if split is not None else {}
    for metric in cfg.evaluator:
        evaluate_file = getattr(get("metric", metric["type"]), "evaluate_results_file", None)
        if callable(evaluate_file):
            return evaluate_file(results_file, dict(metric), dataset_cfg, cfg.metainfo)
    names = ", ".join(str(m["type"]) for m in cfg.evaluator) or "none"
    raise ConfigError(
        f"--results needs an evaluator whose metric evaluates a results file (a metric class declaring "
        f"evaluate_results_file); the config's evaluator has: {names}"
    )
