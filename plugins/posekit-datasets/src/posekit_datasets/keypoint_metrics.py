"""PCKAccuracy, AUC, EPE and NME: keypoint-distance metrics against the samples' ground truth.

Each result's predicted ``keypoints`` (N, K, D) are compared with ``sample.keypoints`` (N, K, D)
of the same sample (same N people, same order), masked by ``sample.keypoints_visible``; both
in original image pixels. Names and numbers follow MMPose's metrics of the same names.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from posekit.errors import ConfigError, DataError
from posekit.metrics.base import BaseMetric, check_finite, check_shape, describe, meta_value
from posekit.metrics.functional import keypoint_auc, keypoint_epe, keypoint_nme, keypoint_pck_accuracy

if TYPE_CHECKING:
    from posekit.structures import PoseResult, PoseSample

__all__ = ["AUC", "EPE", "NME", "PCKAccuracy"]

NormItem = Literal["bbox", "head", "torso"]


def _bbox_size(sample: PoseSample, n: int, where: str) -> np.ndarray:
    """(N,) the longer side of each ground-truth box ``sample.bbox`` (N, 4) xyxy."""
    bbox = np.asarray(sample.bbox)
    check_shape("sample.bbox", bbox, (n, 4), where, " (the ground-truth boxes, xyxy)")
    return np.max(bbox[:, 2:] - bbox[:, :2], axis=1)


def _extra_size(sample: PoseSample, key: str, n: int, where: str, owner: str) -> np.ndarray:
    """(N,) ``sample.extra[key]`` (a number per sample or per instance)."""
    if key not in sample.extra:
        raise DataError(f"{where}: {owner} needs sample.extra[{key!r}], which this sample does not have")
    value = np.asarray(sample.extra[key])
    if value.size == 1 and n == 1:
        return value.reshape(1)
    check_shape(f"sample.extra[{key!r}]", value, (n,), where)
    return value


class _KeypointDistanceMetric(BaseMetric):
    """Keeps ``pred``, ``gt`` (N, K, D) and ``mask`` (N, K) per sample, plus normalisation sizes."""

    def _record(self, result: PoseResult, index: int) -> dict[str, Any]:
        sample = result.sample
        where = f"{type(self).__name__}.process: {describe(index, sample)}"
        pred = np.asarray(result.keypoints)
        gt = np.asarray(sample.keypoints)
        check_shape("sample.keypoints", gt, (None, None, None), where, " (the ground truth)")
        n, k, d = gt.shape
        check_shape("keypoints", pred, (n, k, d), where, " (that of the ground truth sample.keypoints)")
        check_finite("keypoints", pred, where)
        visible = np.asarray(sample.keypoints_visible)
        if visible.ndim == 3:
            visible = visible[..., 0]
        check_shape("sample.keypoints_visible", visible, (n, k), where)
        record = {"pred": pred, "gt": gt, "mask": visible.astype(bool)}
        record.update(self._sizes(sample, gt, where))
        return record

    def _sizes(self, sample: PoseSample, gt: np.ndarray, where: str) -> dict[str, np.ndarray]:
        """Per-instance normalisation sizes ``{name: (N,)}`` this metric needs."""
        return {}

    @staticmethod
    def _stack(records: list[dict[str, Any]], key: str) -> np.ndarray:
        return np.concatenate([r[key] for r in records])


class PCKAccuracy(_KeypointDistanceMetric):
    """PCK: the fraction of visible keypoints within ``thr`` times a per-instance size of the ground truth.

    Reports ``PCK`` (bbox), ``PCKh`` (head) and/or ``tPCK`` (torso), one per ``norm_item``.

    Args:
        thr: threshold on the normalised distance; default 0.05.
        norm_item: size(s) to normalise by: ``'bbox'`` (the longer side of ``sample.bbox``),
            ``'head'`` (``sample.extra['head_size']``, MPII's PCKh), ``'torso'`` (the distance
            between keypoints 4 and 5, or 7 and 8 when that is below 1 pixel, as for JHMDB);
            default ``'bbox'``.
        prefix: metric-name prefix; default none.
    """

    _NAMES = {"bbox": "PCK", "head": "PCKh", "torso": "tPCK"}

    def __init__(
        self, thr: float = 0.05, norm_item: NormItem | tuple[NormItem, ...] = "bbox", prefix: str | None = None
    ) -> None:
        super().__init__(prefix=prefix)
        items = (norm_item,) if isinstance(norm_item, str) else tuple(norm_item)
        unknown = [i for i in items if i not in self._NAMES]
        if unknown or not items:
            raise ConfigError(f"PCKAccuracy: norm_item must be among {tuple(self._NAMES)}, got {norm_item!r}")
        self.thr = thr
        self.norm_item = items

    def _sizes(self, sample: PoseSample, gt: np.ndarray, where: str) -> dict[str, np.ndarray]:
        n = len(gt)
        sizes = {}
        if "bbox" in self.norm_item:
            sizes["bbox"] = _bbox_size(sample, n, where)
        if "head" in self.norm_item:
            sizes["head"] = _extra_size(sample, "head_size", n, where, "PCKAccuracy(norm_item='head')")
        if "torso" in self.norm_item:
            if gt.shape[1] < 9:
                raise DataError(f"{where}: norm_item='torso' reads keypoints 4, 5, 7, 8; got K={gt.shape[1]}")
            torso = np.linalg.norm(gt[:, 4] - gt[:, 5], axis=-1)
            small = torso < 1
            if small.any():
                warnings.warn(
                    "PCKAccuracy: ground-truth torso size < 1 pixel; using the distance between keypoints 7 and 8",
                    stacklevel=2,
                )
                torso = np.where(small, np.linalg.norm(gt[:, 7] - gt[:, 8], axis=-1), torso)
            sizes["torso"] = torso
        return sizes

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        pred, gt, mask = (self._stack(records, key) for key in ("pred", "gt", "mask"))
        metrics = {}
        for item in self.norm_item:
            size = self._stack(records, item)
            _, pck, _ = keypoint_pck_accuracy(pred, gt, mask, self.thr, np.stack([size, size], axis=1))
            metrics[self._NAMES[item]] = pck
        return metrics


class AUC(_KeypointDistanceMetric):
    """Area under the PCK curve with a fixed pixel normalisation (OneHand10K, Panoptic, RHD): ``AUC``.

    Args:
        norm_factor: normalisation size in pixels for every instance; default 30.
        num_thrs: number of PCK thresholds in [0, 1); default 20.
        prefix: metric-name prefix; default none.
    """

    def __init__(self, norm_factor: float = 30, num_thrs: int = 20, prefix: str | None = None) -> None:
        super().__init__(prefix=prefix)
        if norm_factor <= 0 or num_thrs < 1:
            raise ConfigError(f"AUC: norm_factor must be > 0 and num_thrs >= 1, got {norm_factor}, {num_thrs}")
        self.norm_factor = norm_factor
        self.num_thrs = num_thrs

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        pred, gt, mask = (self._stack(records, key) for key in ("pred", "gt", "mask"))
        return {"AUC": keypoint_auc(pred, gt, mask, self.norm_factor, self.num_thrs)}


class EPE(_KeypointDistanceMetric):
    """End-point error: the mean pixel distance of the visible keypoints, ``EPE``.

    Args:
        prefix: metric-name prefix; default none.
    """

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        pred, gt, mask = (self._stack(records, key) for key in ("pred", "gt", "mask"))
        return {"EPE": keypoint_epe(pred, gt, mask)}


class NME(_KeypointDistanceMetric):
    """Normalised mean error (faces, hands, animals): ``NME``.

    Args:
        norm_mode: ``'keypoint_distance'`` (normalise by the ground-truth distance between two
            keypoints, e.g. the outer eye corners: inter-ocular) or ``'use_norm_item'`` (by a
            per-sample size). Required.
        norm_item: the size for ``'use_norm_item'``: ``'bbox_size'`` (the longer side of
            ``sample.bbox``) or a key of ``sample.extra``; default None.
        keypoint_indices: the two keypoints of ``'keypoint_distance'``; default None, which
            uses MMPose's pair for the dataset (300w, wflw, cofw, lapa, horse10, coco_wholebody_face).
        prefix: metric-name prefix; default none.
    """

    example_config = {"norm_mode": "keypoint_distance", "keypoint_indices": (0, 1)}  # posekit plugins --check

    DEFAULT_KEYPOINT_INDICES: dict[str, tuple[int, int]] = {
        "horse10": (0, 1),
        "300w": (36, 45),
        "coco_wholebody_face": (36, 45),
        "cofw": (8, 9),
        "wflw": (60, 72),
        "lapa": (66, 79),
    }

    def __init__(
        self,
        norm_mode: Literal["use_norm_item", "keypoint_distance"],
        norm_item: str | None = None,
        keypoint_indices: tuple[int, int] | None = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(prefix=prefix)
        if norm_mode not in ("use_norm_item", "keypoint_distance"):
            raise ConfigError(f"NME: norm_mode must be 'use_norm_item' or 'keypoint_distance', got {norm_mode!r}")
        if norm_mode == "use_norm_item" and not norm_item:
            raise ConfigError(
                "NME: norm_mode='use_norm_item' needs norm_item: 'bbox_size' or the sample.extra key of the size"
            )
        if keypoint_indices is not None and len(keypoint_indices) != 2:
            raise ConfigError(f"NME: keypoint_indices must be a pair, got {keypoint_indices!r}")
        self.norm_mode = norm_mode
        self.norm_item = norm_item
        self.keypoint_indices = keypoint_indices

    def _sizes(self, sample: PoseSample, gt: np.ndarray, where: str) -> dict[str, np.ndarray]:
        if self.norm_mode != "use_norm_item" or self.norm_item is None:
            return {}
        if self.norm_item == "bbox_size":
            return {"size": _bbox_size(sample, len(gt), where)}
        return {"size": _extra_size(sample, self.norm_item, len(gt), where, f"NME(norm_item={self.norm_item!r})")}

    def _pair(self, num_keypoints: int) -> Sequence[int]:
        pair = self.keypoint_indices
        if pair is None:
            name = meta_value(self.dataset_meta, "dataset_name")
            if name not in self.DEFAULT_KEYPOINT_INDICES:
                raise ConfigError(
                    f"NME(norm_mode='keypoint_distance') has no keypoint_indices and no default pair for dataset "
                    f"{name!r} (defaults: {', '.join(self.DEFAULT_KEYPOINT_INDICES)}); pass keypoint_indices=(i, j)"
                )
            pair = self.DEFAULT_KEYPOINT_INDICES[name]
        if max(pair) >= num_keypoints or min(pair) < 0:
            raise ConfigError(f"NME: keypoint_indices {tuple(pair)} are out of range for K={num_keypoints} keypoints")
        return pair

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        pred, gt, mask = (self._stack(records, key) for key in ("pred", "gt", "mask"))
        if self.norm_mode == "use_norm_item":
            size = self._stack(records, "size")
        else:
            i, j = self._pair(gt.shape[1])
            size = np.linalg.norm(gt[:, i, :] - gt[:, j, :], axis=1)
        return {"NME": keypoint_nme(pred, gt, mask, np.stack([size, size], axis=1))}
