"""The one DataLoader factory: seeded sampling and workers, distributed sampling, epoch-keyed samplers.

A plain call picks the sampler (sequential, seeded random, or distributed when
torch.distributed runs). The trainer and evaluation pass their own sampler of ``(epoch, index)``
keys (:mod:`posekit.engine.loader`); the dataset is then wrapped in :class:`EpochDataset`, which
passes the epoch to the dataset (``set_epoch``) before fetching the sample, so per-sample
augmentation seeds (``sample_rng(seed, epoch, index)``) reach every worker process, even
persistent ones.
"""

from __future__ import annotations

import functools
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


class EpochDataset(Dataset):
    """Wrap ``dataset`` so that keys ``(epoch, index)`` set the epoch before ``dataset[index]``.

    Args:
        dataset: the wrapped dataset; its ``set_epoch(epoch)`` is called when it has one.
    """

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

    With ``seed`` set, the shuffled order comes from a ``torch.Generator`` seeded with it
    (same seed, same order, whatever ``num_workers``), and each worker is seeded by
    :func:`worker_init_fn`. Under an initialised ``torch.distributed`` process group, a
    :class:`DistributedSampler` gives each rank its share; call :func:`set_epoch` before
    each epoch so it reshuffles (and the dataset's per-sample seeds move on). Creating an
    iterator draws from the loader's own generator, never from the run's random state.

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
        pin_memory: pin host memory (CUDA).
        sampler: a sampler of ``(epoch, index)`` keys (the trainer's); the dataset is then read
            through :class:`EpochDataset` and ``shuffle``/``distributed`` are not used.
        rank: this process's rank, giving its workers their own seeds; None: from torch.distributed.
    """
    if batch_size < 1 or num_workers < 0:
        raise ConfigError(
            f"build_dataloader: batch_size must be >= 1 and num_workers >= 0, got {batch_size}, {num_workers}"
        )
    if distributed is None:
        distributed = dist.is_available() and dist.is_initialized()
    if rank is None:
        rank = dist.get_rank() if distributed else 0
    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(seed)
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
        pin_memory=pin_memory,
    )


def set_epoch(loader: DataLoader[Any], epoch: int) -> None:
    """Tell the loader's sampler (DistributedSampler reshuffles) and dataset which epoch starts."""
    for target in (loader.sampler, loader.dataset):
        if hasattr(target, "set_epoch"):
            target.set_epoch(epoch)
