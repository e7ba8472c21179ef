"""The metric interface the trainer drives: ``process`` per batch, ``evaluate`` once per pass.

``evaluate`` gathers every rank's picklable per-sample records, restores the dataset order
(a ``DistributedSampler`` deals sample ``i`` to rank ``i % world_size``), drops a padded
sampler's duplicates, computes on rank 0 and hands the same numbers to every rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from posekit.errors import DataError

if TYPE_CHECKING:
    from posekit.structures import PoseResult, PoseSample

SampleKey = tuple[int, int, str]
_NO_KEY: SampleKey = (-1, -1, "")


def sample_key(sample: PoseSample) -> SampleKey:
    """The identity of a sample across ranks: ``(img_id, id, img_path)``."""
    return (int(sample.img_id), int(sample.id), str(sample.img_path))


def describe(index: int, sample: PoseSample) -> str:
    """``results[3] (img_id 785, id 442619)``: where a bad input of a ``process`` call sits."""
    return f"results[{index}] (img_id {sample.img_id}, id {sample.id})"


def meta_value(meta: Any, name: str, default: Any = None) -> Any:
    """Read ``name`` from a keypoint definition (a ``KeypointInfo``) or an MMPose ``dataset_meta`` dict."""
    if isinstance(meta, Mapping):
        return meta.get(name, default)
    return getattr(meta, name, default)


def load_definition(name_or_path: str) -> Any:
    """``posekit.metainfo.load_metainfo``, imported on first use."""
    from posekit.metainfo import load_metainfo

    return load_metainfo(name_or_path)


def _is_distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_records(records: list[tuple[SampleKey, Any]]) -> list[tuple[SampleKey, Any]]:
    """Every rank's records in dataset order, each sample once (samples without a key are all kept)."""
    if _is_distributed():
        import torch.distributed as dist

        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, records)
        missing = object()
        ordered = [r for group in zip_longest(*parts, fillvalue=missing) for r in group if r is not missing]
    else:
        ordered = list(records)
    seen: set[SampleKey] = set()
    unique = []
    for key, record in ordered:
        if key != _NO_KEY:
            if key in seen:
                continue
            seen.add(key)
        unique.append((key, record))
    return unique


class BaseMetric:
    """Accumulate per-sample records with :meth:`process`; :meth:`evaluate` computes and resets.

    Subclasses implement ``_record(result, index)`` (validate one :class:`PoseResult` and keep
    what the metric needs) and ``compute_metrics(records)``. ``prefix`` names metrics
    ``prefix/name`` (default the class's ``default_prefix``, as MMPose).
    """

    default_prefix: ClassVar[str | None] = None

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or self.default_prefix
        self._records: list[tuple[SampleKey, Any]] = []
        self._dataset_meta: Any = None

    # ---- dataset meta (set by the trainer from the dataset, as MMPose's runner does) ----

    @property
    def dataset_meta(self) -> Any:
        """The dataset's keypoint definition (``KeypointInfo`` or an MMPose ``dataset_meta`` dict), or None."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, metainfo: Any) -> None:
        self.set_dataset_meta(metainfo)

    def set_dataset_meta(self, metainfo: Any) -> None:
        """Give the metric the dataset's keypoint definition (what ``load_metainfo`` takes, or a ``dataset_meta``)."""
        self._dataset_meta = load_definition(metainfo) if isinstance(metainfo, str) else metainfo

    # ---- accumulation ----

    def process(self, results: Sequence[PoseResult]) -> None:
        """Validate and keep one record per result (one result per sample, original image space)."""
        for index, result in enumerate(results):
            self._records.append((sample_key(result.sample), self._record(result, index)))

    def reset(self) -> None:
        """Forget every processed sample."""
        self._records = []

    def evaluate(self) -> dict[str, float]:
        """Gather every rank's samples, compute the metrics on rank 0, reset; the same dict on every rank."""
        records = [r for _, r in gather_records(self._records)]
        self.reset()
        if not records:
            raise DataError(
                f"{type(self).__name__}.evaluate(): no result was processed (on any rank); "
                "call process(results) for each batch of the evaluation pass first"
            )
        metrics = self._compute_on_rank0(records) if _is_distributed() else self.compute_metrics(records)
        if self.prefix:
            return {f"{self.prefix}/{k}": v for k, v in metrics.items()}
        return dict(metrics)

    def _compute_on_rank0(self, records: list[Any]) -> dict[str, float]:
        import torch.distributed as dist

        payload: list[Any] = [None]
        if dist.get_rank() == 0:
            try:
                payload[0] = ("ok", self.compute_metrics(records))
            except Exception as e:  # handed to every rank so none waits forever
                payload[0] = ("error", e)
        dist.broadcast_object_list(payload, src=0)
        status, value = payload[0]
        if status == "error":
            raise value
        return value

    # ---- for subclasses ----

    def _record(self, result: PoseResult, index: int) -> Any:
        raise NotImplementedError

    def compute_metrics(self, records: list[Any]) -> dict[str, float]:
        """The metrics of the gathered records (each sample once, dataset order)."""
        raise NotImplementedError


def check_finite(name: str, value: np.ndarray, where: str) -> None:
    """Raise a :class:`DataError` naming ``name`` when ``value`` holds NaN or infinity."""
    if not np.all(np.isfinite(value)):
        bad = int(np.count_nonzero(~np.isfinite(value)))
        raise DataError(f"{where}: {name} holds {bad} NaN/infinite value(s); predictions must be finite")


def check_shape(name: str, value: np.ndarray, expected: tuple[int | None, ...], where: str, hint: str = "") -> None:
    """Raise a :class:`DataError` when ``value.shape`` differs from ``expected`` (None matches any size)."""
    ok = value.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, value.shape, strict=True))
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise DataError(f"{where}: {name} must have shape {want}{hint}, got {tuple(value.shape)}")
