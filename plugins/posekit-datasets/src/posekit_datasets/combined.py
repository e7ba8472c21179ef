"""MMPose's ``CombinedDataset`` and ``KeypointConverter`` (train on several datasets in one keypoint layout), and
mmengine's ``RepeatDataset``.

Each member dataset runs its own pipeline (typically ending with a ``KeypointConverter`` that maps
its keypoints onto the combined layout), then the combined dataset sets the combined definition's
flip indices, body halves and keypoint weights on the sample and runs its own pipeline.

Dimensions: N instances, K source keypoints, K' = ``num_keypoints`` target keypoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from torch.utils.data import Dataset

from posekit.datasets.base import BaseDataset, MetainfoArg, PipelineStep
from posekit.errors import ConfigError, DataError
from posekit.metainfo import KeypointInfo
from posekit.registry import build
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.types import DatasetConfig

#: a source index, or a pair of source indices whose midpoint is taken
SourceIndex = int | tuple[int, int]


class KeypointConverter(BaseTransform):
    """Map a sample's K keypoints onto a K'-keypoint layout (MMPose's ``KeypointConverter``).

    Target keypoint ``dst`` takes source keypoint ``src`` for each ``(src, dst)`` of ``mapping``;
    a pair ``((a, b), dst)`` takes the midpoint of ``a`` and ``b`` (visible when both are).
    Unmapped targets are zeros, invisible. Reads and writes ``keypoints`` (N, K, D) -> (N, K', 2)
    (``keypoints_3d`` and ``lifting_target`` too when ``sample.extra`` holds ``keypoints_3d``),
    ``keypoints_visible`` (N, K) -> (N, K'); ``extra['keypoints_visible_weights']`` (N, K') is 1 at
    mapped targets (MMPose stacks it as a second visibility channel; posekit keeps it apart).
    With midpoints, ``flip_indices`` become MMPose's (an identity for midpoints).

    Args:
        num_keypoints: K', the target keypoint count.
        mapping: ``(src, dst)`` pairs; ``src`` an index or a pair of indices to average.
    """

    #: it maps annotations: test-time pipelines leave it out
    train_only: ClassVar[bool] = True
    #: a small working instance (``posekit plugins --check``)
    example_config: ClassVar[dict[str, Any]] = {"num_keypoints": 3, "mapping": [[0, 0], [1, 2]]}

    def __init__(self, num_keypoints: int, mapping: Sequence[tuple[SourceIndex, int]]) -> None:
        if num_keypoints < 1:
            raise ConfigError(f"KeypointConverter: num_keypoints must be >= 1, got {num_keypoints}")
        self.num_keypoints = num_keypoints
        self.mapping = [tuple(m) for m in mapping]
        sources = [m[0] for m in self.mapping]
        self._dst = np.array([m[1] for m in self.mapping], np.int64)
        self._src1 = np.array([s[0] if isinstance(s, (tuple, list)) else s for s in sources], np.int64)
        self._src2 = np.array([s[1] if isinstance(s, (tuple, list)) else s for s in sources], np.int64)
        self._interpolate = any(isinstance(s, (tuple, list)) for s in sources)
        bad = [int(d) for d in self._dst if not 0 <= d < num_keypoints]
        if bad:
            raise ConfigError(f"KeypointConverter: target indices {bad} are outside [0, {num_keypoints})")

    def _convert(self, values: np.ndarray, visible: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
        n, k = values.shape[:2]
        if len(self._src1) and max(self._src1.max(), self._src2.max()) >= k:
            raise DataError(
                f"KeypointConverter: {where} has K={k} keypoints; the mapping reads up to index "
                f"{max(self._src1.max(), self._src2.max())}"
            )
        out = np.zeros((n, self.num_keypoints, 3), np.float64)
        out_visible = np.zeros((n, self.num_keypoints), np.float64)
        c = values.shape[-1]
        if self._interpolate:
            out[:, self._dst, :c] = 0.5 * (values[:, self._src1] + values[:, self._src2])
            out_visible[:, self._dst] = visible[:, self._src1] * visible[:, self._src2]
        else:
            out[:, self._dst, :c] = values[:, self._src1]
            out_visible[:, self._dst] = visible[:, self._src1]
        return out, out_visible

    def __call__(self, sample: PoseSample) -> PoseSample:
        where = f"image id {sample.img_id}"
        visible = np.asarray(sample.keypoints_visible)
        if visible.ndim == 3:
            visible = visible[..., 0]
        keypoints_3d = sample.extra.get("keypoints_3d")
        source = np.asarray(keypoints_3d if keypoints_3d is not None else sample.keypoints)
        out, out_visible = self._convert(source, visible, where)
        weights = np.zeros_like(out_visible)
        weights[:, self._dst] = 1.0
        sample.keypoints = out[..., :2]
        sample.keypoints_visible = out_visible
        sample.extra["keypoints_visible_weights"] = weights
        if keypoints_3d is not None:
            sample.extra["keypoints_3d"] = out
            target_idx = sample.extra.get("target_idx", -1)
            sample.lifting_target = out[target_idx]
            sample.lifting_target_visible = out_visible[target_idx]
        if self._interpolate and sample.flip_indices:
            flip = list(sample.flip_indices)
            for i, (a, b) in enumerate(zip(self._src1.tolist(), self._src2.tolist(), strict=True)):
                idx = flip[a] if a == b else i
                flip[i] = idx if idx < self.num_keypoints else i
            sample.flip_indices = flip[: len(self._src1)]
        return sample


class CombinedDataset(BaseDataset):
    """Several datasets as one, in the keypoint layout of ``metainfo`` (MMPose's ``CombinedDataset``).

    Sample ``i`` is taken from the members in order (the first ``len(datasets[0])`` from the
    first, ...). With ``sample_ratio_factor``, member ``j`` counts ``int(len_j * factor_j)``
    samples, each drawn at random from the whole member (a factor above 1 oversamples). The
    combined pipeline, refetching and seeding are :class:`~posekit.datasets.BaseDataset`'s.

    Args:
        metainfo: the combined keypoint definition (name, file, or MMPose's ``dict(from_file=...)``).
        datasets: the member datasets' configs (each with its own pipeline).
        pipeline: transforms run after a member's pipeline, with the combined definition set.
        sample_ratio_factor: one factor >= 0 per member, or None (every sample once).
        test_mode: evaluation: the pipeline must not drop samples.
        max_refetch: how many other samples to try when the pipeline drops one (training).
        seed: seeds the members' per-sample generators and the resampling; None: numpy's global state.
    """

    def __init__(
        self,
        metainfo: MetainfoArg,
        datasets: Sequence[DatasetConfig],
        pipeline: Sequence[PipelineStep] = (),
        sample_ratio_factor: Sequence[float] | None = None,
        test_mode: bool = False,
        max_refetch: int = 1000,
        seed: int | None = None,
    ) -> None:
        if not datasets:
            raise ConfigError("CombinedDataset: datasets must name at least one dataset")
        self.datasets = [build("dataset", cfg, where=f"datasets[{i}]") for i, cfg in enumerate(datasets)]
        sizes = [len(d) for d in self.datasets]
        self.resample = sample_ratio_factor is not None
        if sample_ratio_factor is not None:
            if len(sample_ratio_factor) != len(sizes) or min(sample_ratio_factor) < 0:
                raise ConfigError(
                    f"CombinedDataset: sample_ratio_factor needs one factor >= 0 per dataset ({len(sizes)}), "
                    f"got {list(sample_ratio_factor)}"
                )
            sizes = [int(size * f) for size, f in zip(sizes, sample_ratio_factor, strict=True)]
        self.sample_ratio_factor = sample_ratio_factor
        self._sizes = np.cumsum(sizes)
        super().__init__(
            metainfo=metainfo,
            serialize_data=False,
            pipeline=pipeline,
            test_mode=test_mode,
            lazy_init=True,
            max_refetch=max_refetch,
            seed=seed,
        )
        self._loaded = True  # the members hold the samples

    @property
    def seed(self) -> int | None:
        """The run's seed, handed to every member (the trainer sets it from ``train.seed``)."""
        return self._seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        self._seed = value
        for dataset in self.datasets:
            if hasattr(dataset, "seed"):
                dataset.seed = value

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` in the per-sample seeds, here and in every member."""
        super().set_epoch(epoch)
        for dataset in self.datasets:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return int(self._sizes[-1])

    def subset_index(self, idx: int) -> tuple[int, int]:
        """(member, index in that member) of combined sample ``idx`` (random within the member when resampling)."""
        idx = range(len(self))[idx]  # negative indices count from the end; out of range: IndexError
        member = int(np.searchsorted(self._sizes, idx, side="right"))
        local = idx - (int(self._sizes[member - 1]) if member else 0)
        if self.resample:
            if self._seed is None:
                rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
            else:
                rng = np.random.default_rng(np.random.SeedSequence((self._seed, self.epoch, idx, 2)))
            local = int(rng.integers(len(self.datasets[member])))
        return member, local

    def get_data_info(self, idx: int) -> PoseSample:
        """Sample ``idx`` through its member's pipeline, with the combined definition's flip and weights."""
        member, local = self.subset_index(idx)
        sample = self.datasets[member][local]
        sample.flip_indices = list(self.metainfo.flip_indices)
        sample.upper_body_ids = list(self.metainfo.upper_body_ids)
        sample.lower_body_ids = list(self.metainfo.lower_body_ids)
        sample.dataset_keypoint_weights = self._weights.copy()
        return sample

    def __repr__(self) -> str:
        members = ", ".join(type(d).__name__ for d in self.datasets)
        return f"CombinedDataset(metainfo={self.metainfo.dataset_name!r}, datasets=[{members}], samples={len(self)})"


class RepeatDataset(Dataset[PoseSample]):
    """One dataset repeated ``times`` times per epoch (mmengine's ``RepeatDataset``): sample ``i`` is ``i % len``.

    Args:
        dataset: the repeated dataset's config.
        times: how many times it is repeated (>= 1).
    """

    def __init__(self, dataset: DatasetConfig, times: int) -> None:
        if times < 1:
            raise ConfigError(f"RepeatDataset: times must be >= 1, got {times}")
        self.dataset = build("dataset", dataset, where="dataset")
        self.times = times
        self.metainfo: KeypointInfo = self.dataset.metainfo

    @property
    def seed(self) -> int | None:
        """The repeated dataset's seed (the trainer sets it from ``train.seed``)."""
        return getattr(self.dataset, "seed", None)

    @seed.setter
    def seed(self, value: int | None) -> None:
        self.dataset.seed = value

    def set_epoch(self, epoch: int) -> None:
        """Hand the epoch to the repeated dataset."""
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return self.times * len(self.dataset)

    def __getitem__(self, idx: int) -> PoseSample:
        return self.dataset[range(len(self))[idx] % len(self.dataset)]
