"""Data loaders: seeded sampling and workers, distributed sampling when torch.distributed runs."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, SequentialSampler

from posekit.data.collate import pose_collate
from posekit.data.workers import die_with_parent
from posekit.errors import ConfigError
from posekit.structures import PoseBatch, PoseSample


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int) -> None:
    """Seed a loader worker's ``random``, numpy and torch from ``seed + num_workers * rank + worker_id``.

    The formula of mmengine's ``worker_init_fn``, so every worker of every rank draws a
    different stream, and the same seed gives the same streams again.

    Args:
        worker_id: the worker's index in its loader.
        num_workers: workers per loader.
        rank: the process's rank (0 without distribution).
        seed: the run's base seed.
    """
    die_with_parent()
    worker_seed = num_workers * rank + worker_id + seed
    np.random.seed(worker_seed % 2**32)
    random.seed(worker_seed)
    torch.manual_seed(worker_seed)


def build_dataloader(
    dataset: Dataset[PoseSample],
    batch_size: int,
    num_workers: int = 0,
    shuffle: bool = False,
    seed: int | None = 0,
    drop_last: bool = False,
    distributed: bool | None = None,
    persistent_workers: bool = False,
    collate_fn: Callable[[Sequence[PoseSample]], Any] = pose_collate,
) -> DataLoader[PoseBatch]:
    """A :class:`~torch.utils.data.DataLoader` of :class:`PoseBatch` with reproducible order and workers.

    With ``seed`` set, the shuffled order comes from a ``torch.Generator`` seeded with it
    (same seed, same order, whatever ``num_workers``), and each worker is seeded by
    :func:`worker_init_fn`. Under an initialised ``torch.distributed`` process group, a
    :class:`DistributedSampler` gives each rank its share; call :func:`set_epoch` before
    each epoch so it reshuffles (and the dataset's per-sample seeds move on).

    Args:
        dataset: a map-style dataset of :class:`PoseSample`.
        batch_size: samples per batch (per rank when distributed).
        num_workers: loader worker processes; 0 loads in the main process.
        shuffle: shuffle every epoch (training).
        seed: base seed of the order and the workers; None: unseeded.
        drop_last: drop the last incomplete batch.
        distributed: use a DistributedSampler; None: when torch.distributed is initialised.
        persistent_workers: keep workers between epochs (a dataset's ``set_epoch`` then does
            not reach them: leave off when the dataset seeds per epoch).
        collate_fn: how samples become a batch (default :func:`pose_collate`).
    """
    if batch_size < 1 or num_workers < 0:
        raise ConfigError(
            f"build_dataloader: batch_size must be >= 1 and num_workers >= 0, got {batch_size}, {num_workers}"
        )
    if distributed is None:
        distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(seed)
    sampler: torch.utils.data.Sampler[int]
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed or 0)
    elif shuffle:
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    init = None
    if seed is not None and num_workers > 0:
        init = functools.partial(worker_init_fn, num_workers=num_workers, rank=rank, seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        drop_last=drop_last,
        worker_init_fn=init,
        generator=generator,
        persistent_workers=persistent_workers and num_workers > 0,
    )


def set_epoch(loader: DataLoader[Any], epoch: int) -> None:
    """Tell the loader's sampler (DistributedSampler reshuffles) and dataset which epoch starts."""
    for target in (loader.sampler, loader.dataset):
        if hasattr(target, "set_epoch"):
            target.set_epoch(epoch)
