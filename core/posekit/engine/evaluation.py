"""The evaluation pass shared by validation (during training) and ``posekit test``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from posekit.config.schema import Experiment
from posekit.engine import dist
from posekit.engine.loader import ShardSampler
from posekit.errors import ConfigError
from posekit.registry import build


def build_metrics(cfgs: Sequence[Mapping[str, Any]], dataset_meta: Any) -> list[Any]:
    """Fresh metric objects from the config's ``evaluator`` entries, told the dataset's meta.

    Args:
        cfgs: ``{"type": Name, ...}`` metric configs.
        dataset_meta: the evaluated dataset's keypoint definition (``dataset.metainfo``, a
            ``KeypointInfo`` or MMPose's ``dataset_meta`` dict), or None.
    """
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
    """Predict every batch with ``model`` and feed the results to ``metrics``.

    Each metric gathers its results across processes in ``evaluate()``; the merged
    ``{name: value}`` is returned on every rank. The model is put in eval mode and back.

    Args:
        model: the estimator (unwrapped, not DDP).
        loader: batches of :class:`~posekit.structures.PoseBatch`.
        metrics: metric objects with ``process(results)`` and ``evaluate()``.
        autocast: makes the context the forward pass runs in (mixed precision).
        progress: show a progress bar.
        desc: the progress bar's label.
    """
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
    out: dict[str, float] = {}
    for m in metrics:
        out.update({k: float(v) for k, v in m.evaluate().items()})
    return out


def evaluate_checkpoint(cfg: Experiment, checkpoint: str | Path) -> dict[str, float] | None:
    """Evaluate ``checkpoint`` on ``cfg.data.test`` (else ``cfg.data.val``) with ``cfg.evaluator``.

    Runs under ``torchrun`` too (each rank evaluates its share; the metrics gather). Returns
    the metrics on rank 0 and None on the other ranks.

    Args:
        cfg: the validated experiment.
        checkpoint: a posekit or MMPose checkpoint (a posekit checkpoint's EMA weights when it has them).
    """
    from posekit.apis import init_model
    from posekit.data import build_dataloader, pose_collate

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
        loader = build_dataloader(
            dataset,
            sampler=ShardSampler(len(dataset), num_replicas=world_size, rank=rank),
            batch_size=split.batch_size,
            num_workers=split.num_workers,
            drop_last=False,
            persistent_workers=False,
            collate_fn=pose_collate,
            pin_memory=split.pins_memory(device.type),
            seed=cfg.train.seed,
        )
        metrics = build_metrics(cfg.evaluator, getattr(dataset, "metainfo", None))
        amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16

        def autocast() -> AbstractContextManager[Any]:
            return torch.autocast(device.type, dtype=amp_dtype) if cfg.optim.amp else contextlib.nullcontext()

        out = evaluate(model, loader, metrics, autocast=autocast, progress=rank == 0 and cfg.train.progress)
        return out if rank == 0 else None
    finally:
        if owns_group:
            torch.distributed.destroy_process_group()


def evaluate_results(cfg: Experiment, results_file: str | Path) -> dict[str, float]:
    """Evaluate a results file, as a metric of ``cfg.evaluator`` wrote it, without a model.

    The first evaluator whose class declares ``evaluate_results_file`` (a classmethod taking the
    file, the metric's config, the test (or val) dataset's config and the experiment's
    ``metainfo``, returning prefixed statistics) evaluates it.

    Args:
        cfg: the validated experiment.
        results_file: the file the metric wrote (e.g. a COCO keypoint results list).
    """
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
