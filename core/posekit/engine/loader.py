"""Samplers and data loaders of the trainer: resumable, distributed, epoch-aware.

The training sampler is a :class:`~torch.utils.data.DistributedSampler` (one process is
a world of one) that can start part-way through an epoch, so a resumed run sees exactly
the batches it would have seen. It yields ``(epoch, index)`` keys; :class:`EpochDataset`
passes the epoch to the dataset (``set_epoch``) before fetching the sample, so per-sample
augmentation seeds (``sample_rng(seed, epoch, index)``) reach every worker process, even
persistent ones.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler


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


class TrainSampler(DistributedSampler):
    """This rank's share of a seeded per-epoch permutation, from ``start`` on, as ``(epoch, index)``.

    Args:
        dataset: the dataset (only its length is used).
        num_replicas: the world size.
        rank: this process's rank.
        shuffle: permute each epoch (seeded by ``seed + epoch``).
        seed: the run's seed.
    """

    def __init__(self, dataset: Dataset, *, num_replicas: int, rank: int, shuffle: bool, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` samples of this rank's share (the next epoch starts at 0 again).

        Args:
            start: samples of the current epoch already consumed by this rank.
        """
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        indices = list(super().__iter__())[self.start :]
        return iter([(self.epoch, i) for i in indices])

    def __len__(self) -> int:
        return self.num_samples - self.start


class ShardSampler(Sampler[tuple[int, int]]):
    """Evaluation sampler: rank ``r`` of ``n`` takes indices ``r, r + n, ...`` in order, no padding.

    Args:
        length: the dataset's length.
        num_replicas: the world size.
        rank: this process's rank.
    """

    def __init__(self, length: int, *, num_replicas: int = 1, rank: int = 0) -> None:
        self.indices = range(rank, length, num_replicas)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(0, i) for i in self.indices])

    def __len__(self) -> int:
        return len(self.indices)


def iters_per_epoch(num_samples: int, batch_size: int, drop_last: bool) -> int:
    """Batches a rank draws per epoch from ``num_samples`` samples.

    Args:
        num_samples: this rank's samples per epoch.
        batch_size: the per-rank batch size.
        drop_last: whether an incomplete last batch is dropped.
    """
    return num_samples // batch_size if drop_last else math.ceil(num_samples / batch_size)


def make_loader(
    dataset: Dataset,
    sampler: Sampler[tuple[int, int]],
    *,
    batch_size: int,
    num_workers: int,
    drop_last: bool,
    persistent_workers: bool,
    collate_fn: Callable[[list[Any]], Any],
    pin_memory: bool,
    seed: int,
    rank: int = 0,
) -> DataLoader:
    """A ``DataLoader`` over ``EpochDataset(dataset)`` with its own seeded generator and seeded workers.

    Creating an iterator draws from the loader's generator, never from the training run's
    random state; each worker's global generators are seeded as in MMEngine
    (``seed + num_workers * rank + worker_id``).

    Args:
        dataset: the dataset of :class:`~posekit.structures.PoseSample`.
        sampler: a sampler of ``(epoch, index)`` keys.
        batch_size: per-rank batch size.
        num_workers: loader processes (0: load in the main process).
        drop_last: drop an incomplete last batch.
        persistent_workers: keep workers alive between epochs.
        collate_fn: samples -> :class:`~posekit.structures.PoseBatch`.
        pin_memory: pin host memory (CUDA).
        seed: seeds the loader's generator and the workers.
        rank: this process's rank (gives its workers their own seeds).
    """
    from posekit.data import worker_init_fn

    init = functools.partial(worker_init_fn, num_workers=num_workers, rank=rank, seed=seed) if num_workers else None
    return DataLoader(
        EpochDataset(dataset),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_fn,
        drop_last=drop_last,
        persistent_workers=persistent_workers and num_workers > 0,
        pin_memory=pin_memory,
        worker_init_fn=init,
        generator=torch.Generator().manual_seed(seed),
    )
