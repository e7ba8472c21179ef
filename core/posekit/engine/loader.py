"""The trainer's samplers: resumable mid-epoch, distributed, yielding ``(epoch, index)`` keys that
:func:`posekit.data.build_dataloader` turns into the dataset's ``set_epoch`` calls."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from posekit.errors import ConfigError


class TrainSampler(DistributedSampler):
    """This rank's share of a per-epoch permutation (seeded by ``seed + epoch``), from ``start`` on, as
    ``(epoch, index)``."""

    def __init__(self, dataset: Dataset, *, num_replicas: int, rank: int, shuffle: bool, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` samples of this rank's share of the current epoch."""
        self.start = start

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        indices = list(super().__iter__())[self.start :]
        return iter([(self.epoch, i) for i in indices])

    def __len__(self) -> int:
        return self.num_samples - self.start


class ShardSampler(Sampler[tuple[int, int]]):
    """Evaluation sampler: rank ``r`` of ``n`` takes indices ``r, r + n, ...`` in order, no padding."""

    def __init__(self, length: int, *, num_replicas: int = 1, rank: int = 0) -> None:
        self.indices = range(rank, length, num_replicas)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(0, i) for i in self.indices])

    def __len__(self) -> int:
        return len(self.indices)


def build_train_loader(
    dataset: Dataset, split: Any, seed: int, rank: int, world_size: int, device: torch.device, where: str
) -> tuple[TrainSampler, DataLoader, int]:
    """The trainer's sampler and loader of ``dataset`` (config path ``where``) for the ``data.train``
    section ``split``, and the batches a rank draws per epoch."""
    from posekit.data import build_dataloader

    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ConfigError(f"{where} ({type(dataset).__name__}) has no samples")
    shuffle = True if split.shuffle is None else split.shuffle
    sampler = TrainSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
    loader = build_dataloader(
        dataset,
        sampler=sampler,
        batch_size=split.batch_size,
        num_workers=split.num_workers,
        drop_last=split.drop_last,
        persistent_workers=split.persistent_workers,
        pin_memory=split.pins_memory(device.type),
        seed=seed,
        rank=rank,
    )
    n, size = sampler.num_samples, split.batch_size
    iters = n // size if split.drop_last else math.ceil(n / size)
    if iters == 0:
        raise ConfigError(
            f"data.train: {sampler.num_samples} samples per process is less than one batch "
            f"of {split.batch_size} with drop_last=true"
        )
    return sampler, loader, iters


def build_eval_loader(
    dataset: Dataset, split: Any, seed: int, rank: int, world_size: int, device: torch.device, persistent: bool
) -> DataLoader:
    """An evaluation loader of ``dataset``: this rank's :class:`ShardSampler` share, in order."""
    from posekit.data import build_dataloader

    return build_dataloader(
        dataset,
        sampler=ShardSampler(len(dataset), num_replicas=world_size, rank=rank),  # type: ignore[arg-type]
        batch_size=split.batch_size,
        num_workers=split.num_workers,
        drop_last=False,
        persistent_workers=persistent,
        pin_memory=split.pins_memory(device.type),
        seed=seed,
        rank=rank,
    )
