"""KeypointPartitionMetric: evaluate a metric on named subsets of the keypoints (MMPose's wrapper).

Each partition gets its own copy of the wrapped metric; every result and its ground truth are
cut down to the partition's keypoints before that copy sees them, and the partition's metrics
are reported as ``<partition>/<name>``. A wrapped ``CocoMetric`` evaluates against the ground
truth of the samples (``ann_file`` is ignored, as in MMPose) with the partition's sigmas.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from posekit.errors import ConfigError
from posekit.metrics.base import BaseMetric, meta_value
from posekit.registry import build
from posekit.types import MetricConfig

if TYPE_CHECKING:
    from posekit.structures import PoseResult, PoseSample

#: the metrics MMPose's KeypointPartitionMetric accepts
SUPPORTED = ("CocoMetric", "PCKAccuracy", "AUC", "EPE", "NME")
#: keypoint-definition fields cut down to a partition (per-keypoint arrays)
_PER_KEYPOINT = ("sigmas", "joint_weights")


class KeypointPartitionMetric(BaseMetric):
    """Run ``metric`` on each partition of the keypoints.

    Args:
        metric: the wrapped metric's config (``CocoMetric``, ``PCKAccuracy``, ``AUC``, ``EPE`` or ``NME``).
        partitions: partition name -> keypoint indices, e.g. ``{"body": [0, ..., 16], "foot": [17, ..., 22]}``.
    """

    #: a small working instance (``posekit plugins --check``)
    example_config: ClassVar[dict[str, Any]] = {"metric": {"type": "PCKAccuracy"}, "partitions": {"all": [0, 1, 2]}}

    def __init__(self, metric: MetricConfig, partitions: Mapping[str, Sequence[int]]) -> None:
        super().__init__(prefix=None)
        metric = dict(metric)
        if metric.get("type") not in SUPPORTED:
            raise ConfigError(f"KeypointPartitionMetric: metric must be one of {SUPPORTED}, got {metric.get('type')!r}")
        if not partitions or any(len(ids) == 0 for ids in partitions.values()):
            raise ConfigError("KeypointPartitionMetric: partitions must name at least one non-empty keypoint list")
        if metric["type"] == "CocoMetric" and metric.get("ann_file") is not None:
            warnings.warn("KeypointPartitionMetric ignores the ann_file of CocoMetric", UserWarning, stacklevel=2)
            metric["ann_file"] = None
        self.metric = metric
        self.partitions = {name: np.asarray(ids, dtype=np.int64) for name, ids in partitions.items()}
        self.metrics: dict[str, BaseMetric] = {}
        for name in self.partitions:
            cfg = dict(metric)
            if cfg.get("outfile_prefix"):
                cfg["outfile_prefix"] = f"{cfg['outfile_prefix']}.{name}"
            self.metrics[name] = build("metric", cfg, where=f"KeypointPartitionMetric.partitions.{name}")

    def set_dataset_meta(self, metainfo: Any) -> None:
        """Give each partition's metric the definition cut down to its keypoints (sigmas, weights)."""
        super().set_dataset_meta(metainfo)
        meta = self.dataset_meta
        for name, ids in self.partitions.items():
            part = {"dataset_name": f"{meta_value(meta, 'dataset_name', '?')}/{name}", "num_keypoints": len(ids)}
            for key in _PER_KEYPOINT:
                values = meta_value(meta, key)
                if values is not None and len(values):
                    part[key] = np.asarray(values)[ids]
            self.metrics[name].set_dataset_meta(part)

    def _cut_sample(self, sample: PoseSample, ids: np.ndarray) -> PoseSample:
        keypoints = np.asarray(sample.keypoints)[:, ids]
        visible = np.asarray(sample.keypoints_visible)[:, ids]
        labelled = (visible.reshape(len(visible), len(ids), -1)[..., 0] > 0).sum(axis=1)
        return dataclasses.replace(
            sample,
            keypoints=keypoints,
            keypoints_visible=visible,
            num_keypoints=labelled.astype(np.int64),
            extra=copy.copy(sample.extra),
        )

    def process(self, results: Sequence[PoseResult]) -> None:
        """Cut every result and its sample to each partition, and hand them to that partition's metric."""
        for name, ids in self.partitions.items():
            parted = [
                dataclasses.replace(
                    r,
                    keypoints=np.asarray(r.keypoints)[:, ids],
                    keypoint_scores=np.asarray(r.keypoint_scores)[:, ids],
                    keypoints_visible=None if r.keypoints_visible is None else np.asarray(r.keypoints_visible)[:, ids],
                    heatmaps=None,
                    sample=self._cut_sample(r.sample, ids),
                )
                for r in results
            ]
            self.metrics[name].process(parted)

    def reset(self) -> None:
        for metric in getattr(self, "metrics", {}).values():
            metric.reset()

    def evaluate(self) -> dict[str, float]:
        """Every partition's metrics as ``<partition>/<name>`` (each metric's own prefix kept inside)."""
        out: dict[str, float] = {}
        for name, metric in self.metrics.items():
            out.update({f"{name}/{key}": value for key, value in metric.evaluate().items()})
        return out
