"""The one DataLoader factory: seeded sampling and workers, distributed sampling, epoch-keyed samplers.

Per-sample augmentation seeds reach every worker, even persistent ones, through
:class:`EpochDataset` when the trainer passes its sampler of ``(epoch, index)`` keys.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Sampler, SequentialSampler

from posekit.data.collate import pose_collate
from posekit.data.workers import die_with_parent
from posekit.errors import ConfigError
from posekit.structures import PoseBatch, PoseSample


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int, parent: int | None = None) -> None:
    """Seed a loader worker's ``random``, numpy and torch from ``seed + num_workers * rank + worker_id``;
    the worker dies with ``parent`` (the pid that made the loader; default: its parent now).

    mmengine's formula: every worker of every rank draws a different, reproducible stream.
    """
    die_with_parent(os.getppid() if parent is None else parent)
    worker_seed = num_workers * rank + worker_id + seed
    np.random.seed(worker_seed % 2**32)
    random.seed(worker_seed)
    torch.manual_seed(worker_seed)


class EpochDataset(Dataset):
    """Wrap ``dataset`` so that keys ``(epoch, index)`` call its ``set_epoch(epoch)`` before ``dataset[index]``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._set_epoch: Callable[[int], None] | None = getattr(dataset, "set_epoch", None)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if self._set_epoch is not None:
            self._set_epoch(epoch)
        return self.dataset[index]


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
    pin_memory: bool = False,
    sampler: Sampler[tuple[int, int]] | None = None,
    rank: int | None = None,
) -> DataLoader[PoseBatch]:
    """A :class:`~torch.utils.data.DataLoader` of :class:`PoseBatch` with reproducible order and workers.

    With ``seed`` set, the order (whatever ``num_workers``) and the workers are seeded; a distributed
    sampler needs :func:`set_epoch` before each epoch. ``batch_size`` is per rank.
    A ``sampler`` of ``(epoch, index)`` keys (the trainer's) reads the dataset through
    :class:`EpochDataset`, and ``shuffle``/``distributed`` are then not used.
    """
    if batch_size < 1 or num_workers < 0:
        raise ConfigError(
            f"build_dataloader: batch_size must be >= 1 and num_workers >= 0, got {batch_size}, {num_workers}"
        )
    if distributed is None:
        distributed = dist.is_available() and dist.is_initialized()
    if rank is None:
        rank = dist.get_rank() if distributed else 0
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    if sampler is not None:
        dataset = EpochDataset(dataset)
    elif distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed or 0)
    elif shuffle:
        sampler = RandomSampler(dataset, generator=generator)
    else:
        sampler = SequentialSampler(dataset)
    init = None
    if seed is not None and num_workers > 0:
        forked = multiprocessing.get_start_method() == "fork"  # then the worker's parent is this process
        init = functools.partial(
            worker_init_fn, num_workers=num_workers, rank=rank, seed=seed, parent=os.getpid() if forked else None
        )
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
        pin_memory=pin_memory,
    )


def set_epoch(loader: DataLoader[Any], epoch: int) -> None:
    """Tell the loader's sampler (DistributedSampler reshuffles) and dataset which epoch starts."""
    for target in (loader.sampler, loader.dataset):
        if hasattr(target, "set_epoch"):
            target.set_epoch(epoch)
