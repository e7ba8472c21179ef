"""Samplers of the trainer: resumable, distributed, epoch-aware.

The training sampler is a :class:`~torch.utils.data.DistributedSampler` (one process is
a world of one) that can start part-way through an epoch, so a resumed run sees exactly
the batches it would have seen. It yields ``(epoch, index)`` keys, which
:func:`posekit.data.build_dataloader` turns into ``set_epoch`` calls on the dataset
(:class:`~posekit.data.loader.EpochDataset`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from torch.utils.data import Dataset, DistributedSampler, Sampler


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
