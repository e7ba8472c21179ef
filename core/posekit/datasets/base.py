"""What every posekit dataset shares: keypoint definition, pipeline, lazy loading, copies.

Samples hold boxes and keypoints in original image pixels; N instances (1 in top-down mode),
K keypoints. As in MMPose, a training pipeline may drop a sample by returning ``None``.
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict
from torch.utils.data import Dataset

from posekit.datasets._io import join_root
from posekit.errors import ConfigError, DataError
from posekit.metainfo import KeypointInfo, load_metainfo
from posekit.registry import build, validate
from posekit.structures import INSTANCE_FIELDS, PoseSample
from posekit.transforms.rng import sample_rng

logger = logging.getLogger("posekit.datasets")

#: a keypoint definition: a registered name, a YAML/JSON path, a mapping, or a KeypointInfo
MetainfoArg = str | Mapping[str, Any] | KeypointInfo | None


def _check_step(step: Any) -> Any:
    if isinstance(step, Mapping):
        validate("transform", step)
        return step
    if callable(step):
        return step
    raise ValueError(f"a pipeline step is a transform config {{'type': Name, ...}} or a callable, got {step!r:.80}")


#: a pipeline step: a transform config ``{"type": Name, ...}`` (validated against the
#: transform's signature), or a built callable ``(PoseSample) -> PoseSample | None``
#: (a ``None`` result drops the sample)
PipelineStep = Annotated[Any, AfterValidator(_check_step)]

#: why MMPose's ``_is_valid_instance`` rejects an instance; boxes are warned about, the rest is expected
BAD_BOX = "a box of zero or negative size"


class FilterCfg(BaseModel):
    """MMPose's ``filter_cfg``: which samples a dataset keeps.

    ``bbox_score_thr`` drops top-down samples whose (detection) box score is below it; the other
    keys (mmdet's, and RTMW's Human-Art ``scenes``) are accepted and ignored, as MMPose 1.3 does.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    bbox_score_thr: float | None = None
    filter_empty_gt: bool = False
    min_size: int | None = None
    scenes: tuple[str, ...] | None = None


def invalid_reason(sample: PoseSample) -> str | None:
    """Why a one-instance sample is not a training instance (MMPose's ``_is_valid_instance``), or None."""
    if sample.iscrowd.size and sample.iscrowd[0]:
        return "crowd"
    if sample.num_keypoints.size and sample.num_keypoints[0] == 0:
        return "no labelled keypoints"
    if sample.bbox.size:
        w, h = sample.bbox[0, 2:] - sample.bbox[0, :2]
        if w <= 0 or h <= 0:
            return BAD_BOX
    if sample.keypoints.size and np.max(sample.keypoints) <= 0:
        return "no labelled keypoints"
    return None


def merge_instances(group: Sequence[PoseSample]) -> PoseSample:
    """One bottom-up sample holding the N instances of ``group`` (all of one image).

    Instance arrays are concatenated; ``extra`` values become arrays (concatenated) or
    lists (``extra["ids"]`` holds the annotation ids); the segmentations of invalid
    instances (crowds, empty ones) go to ``invalid_segs`` to be masked out.
    """
    first = group[0]
    extra: dict[str, Any] = {"ids": [s.id for s in group], "category_ids": [s.category_id for s in group]}
    for key, value in first.extra.items():
        values = [s.extra.get(key) for s in group]
        extra[key] = np.concatenate(values, axis=0) if isinstance(value, np.ndarray) else values
    invalid_segs = [
        s.extra["segmentation"]
        for s in group
        if invalid_reason(s) is not None and s.extra.get("segmentation") is not None
    ]
    return PoseSample(
        img_id=first.img_id,
        img_path=first.img_path,
        ori_shape=first.ori_shape,
        category_id=first.category_id,
        **{name: np.concatenate([getattr(s, name) for s in group], axis=0) for name in INSTANCE_FIELDS},
        crowd_index=first.crowd_index,
        invalid_segs=invalid_segs,
        extra=extra,
    )


def _serialize(samples: Sequence[PoseSample]) -> tuple[np.ndarray, np.ndarray]:
    """Samples pickled into one uint8 buffer and its end offsets (shared by forked loader workers)."""
    blobs = [pickle.dumps(s, protocol=pickle.HIGHEST_PROTOCOL) for s in samples]
    ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
    return np.frombuffer(b"".join(blobs), dtype=np.uint8), ends


class BaseDataset(Dataset[PoseSample]):
    """The common machinery of posekit's datasets; subclasses implement :meth:`load_data_list`.

    A subclass declares only its own arguments and hands the rest on as ``**kwargs``.
    ``data_mode`` is ``topdown`` (one sample per instance) or ``bottomup`` (one per image);
    ``indices`` keeps the first n samples (an int) or these ones; ``serialize_data`` holds the
    samples pickled in one buffer that forked loader workers share; ``max_refetch`` is how many
    other samples to try when the pipeline drops one; ``seed`` seeds each sample's ``rng`` from
    (seed, epoch, index), None leaving it to numpy's global state.
    """

    #: the registered keypoint definition used when ``metainfo`` is None
    METAINFO: ClassVar[str] = "coco"

    @classmethod
    def default_metainfo(cls, config: Mapping[str, Any]) -> str:
        """The definition a dataset built from ``config`` (without ``metainfo``) uses: ``METAINFO``."""
        return cls.METAINFO

    def __init__(
        self,
        *,
        ann_file: str = "",
        data_mode: Literal["topdown", "bottomup"] = "topdown",
        metainfo: MetainfoArg = None,
        data_root: str | None = None,
        data_prefix: Mapping[str, str] | None = None,
        filter_cfg: FilterCfg | None = None,
        indices: int | Sequence[int] | None = None,
        serialize_data: bool = True,
        pipeline: Sequence[PipelineStep] = (),
        test_mode: bool = False,
        lazy_init: bool = False,
        max_refetch: int = 1000,
        seed: int | None = None,
    ) -> None:
        if data_mode not in ("topdown", "bottomup"):
            raise ConfigError(f"{type(self).__name__}: data_mode must be 'topdown' or 'bottomup', got {data_mode!r}")
        self.data_mode = data_mode
        self.data_root = data_root
        self.ann_file = join_root(ann_file, data_root)
        self.data_prefix = {
            key: os.path.join(data_root, prefix) if data_root and not os.path.isabs(prefix) else prefix
            for key, prefix in {"img": "", **(data_prefix or {})}.items()
        }
        self.metainfo: KeypointInfo = load_metainfo(metainfo if metainfo is not None else self.METAINFO)
        self.filter_cfg = FilterCfg.model_validate(filter_cfg) if filter_cfg is not None else None
        if self.filter_cfg is not None and self.filter_cfg.bbox_score_thr is not None and data_mode != "topdown":
            raise ConfigError(f"{type(self).__name__}: filter_cfg.bbox_score_thr needs data_mode='topdown'")
        self.indices = indices
        self.serialize_data = serialize_data
        self.pipeline = [build("transform", step, where=f"pipeline[{i}]") for i, step in enumerate(pipeline)]
        self.test_mode = test_mode
        self.max_refetch = max_refetch
        self.seed = seed
        self.epoch = 0
        self._weights = np.asarray(self.metainfo.joint_weights, dtype=np.float32)
        self._samples: list[PoseSample] = []
        self._blob = np.zeros(0, np.uint8)
        self._ends = np.zeros(0, np.int64)
        self._loaded = False
        if not lazy_init:
            self.full_init()

    # ---- loading ----

    def load_data_list(self) -> list[PoseSample]:
        """Read the annotation file into samples (subclasses)."""
        raise NotImplementedError

    def full_init(self) -> None:
        """Read, filter and store the samples (once)."""
        if self._loaded:
            return
        samples = self.filter_data(self.load_data_list())
        if isinstance(self.indices, int):
            samples = samples[: self.indices]
        elif self.indices is not None:
            samples = [samples[i] for i in self.indices]
        if self.serialize_data:
            self._blob, self._ends = _serialize(samples)
        else:
            self._samples = samples
        self._loaded = True

    def filter_data(self, samples: list[PoseSample]) -> list[PoseSample]:
        """Apply ``filter_cfg`` (``bbox_score_thr``)."""
        if self.filter_cfg is None or self.filter_cfg.bbox_score_thr is None:
            return samples
        thr = self.filter_cfg.bbox_score_thr
        return [s for s in samples if not s.bbox_score.size or s.bbox_score[0] >= thr]

    def to_topdown(self, instances: Iterable[PoseSample]) -> list[PoseSample]:
        """Keep valid instances (MMPose's rule); skipped boxes of zero size are counted in a warning."""
        kept: list[PoseSample] = []
        skipped: Counter[str] = Counter()
        bad_boxes: list[int] = []
        for sample in instances:
            reason = invalid_reason(sample)
            if reason is None:
                kept.append(sample)
                continue
            skipped[reason] += 1
            if reason == BAD_BOX:
                bad_boxes.append(sample.id)
        if bad_boxes:
            self.warn_skipped(BAD_BOX, bad_boxes)
        if skipped:
            logger.info("%s %s: skipped %s", type(self).__name__, self.ann_file, dict(skipped))
        return kept

    def to_bottomup(self, instances: Iterable[PoseSample], images: Iterable[PoseSample]) -> list[PoseSample]:
        """One sample per image with all its instances; in test mode, ``images`` with none too."""
        groups: dict[int, list[PoseSample]] = {}
        for sample in instances:
            groups.setdefault(sample.img_id, []).append(sample)
        samples = [merge_instances(group) for group in groups.values()]
        if self.test_mode:
            used = {s.img_id for s in samples}
            samples += [img for img in images if img.img_id not in used]
        return samples

    def warn_skipped(self, reason: str, ids: Sequence[int], what: str = "annotation", source: str = "") -> None:
        """Warn that entries ``ids`` (annotation ids, or ``what`` indices) of ``source`` were skipped."""
        shown = ", ".join(str(i) for i in ids[:10]) + (", ..." if len(ids) > 10 else "")
        warnings.warn(
            f"{type(self).__name__}: skipped {len(ids)} {what}(s) of {source or self.ann_file} with {reason} "
            f"({what} ids {shown})",
            UserWarning,
            stacklevel=3,
        )

    # ---- access ----

    def __len__(self) -> int:
        self.full_init()
        return len(self._ends) if self.serialize_data else len(self._samples)

    def get_data_info(self, idx: int) -> PoseSample:
        """A fresh copy of sample ``idx`` (before the pipeline), with the definition's flip and weights."""
        idx = range(len(self))[idx]  # negative indices count from the end; out of range: IndexError
        if self.serialize_data:
            start = int(self._ends[idx - 1]) if idx > 0 else 0
            sample: PoseSample = pickle.loads(memoryview(self._blob[start : int(self._ends[idx])]))
        else:
            sample = copy.deepcopy(self._samples[idx])
        sample.flip_indices = list(self.metainfo.flip_indices)
        sample.upper_body_ids = list(self.metainfo.upper_body_ids)
        sample.lower_body_ids = list(self.metainfo.lower_body_ids)
        sample.dataset_keypoint_weights = self._weights.copy()
        return sample

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` in the per-sample seeds (new augmentations each epoch)."""
        self.epoch = epoch

    def prepare_data(self, idx: int) -> PoseSample | None:
        """Sample ``idx`` through the pipeline; None when a transform dropped it."""
        sample: PoseSample | None = self.get_data_info(idx)
        if self.seed is not None:
            sample.rng = sample_rng(self.seed, self.epoch, idx)
        for transform in self.pipeline:
            sample = (
                transform(sample, dataset=self) if getattr(transform, "needs_dataset", False) else transform(sample)
            )
            if sample is None:
                return None
            if not isinstance(sample, PoseSample):
                raise TypeError(
                    f"{type(self).__name__}: transform {transform!r} returned a {type(sample).__name__}; "
                    "a transform takes a PoseSample and returns it (or None to drop it)"
                )
        return sample

    def __getitem__(self, idx: int) -> PoseSample:
        sample = self.prepare_data(idx)
        if sample is not None:
            return sample
        if self.test_mode:
            raise DataError(
                f"{type(self).__name__} ({self.ann_file}): the pipeline dropped sample {idx} in test mode; "
                "a test pipeline must keep every sample"
            )
        if self.seed is not None:  # a stream of its own, apart from the pipeline's sample_rng stream
            rng = np.random.default_rng(np.random.SeedSequence((self.seed, self.epoch, idx, 1)))
        else:
            rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        for _ in range(self.max_refetch):
            sample = self.prepare_data(int(rng.integers(len(self))))
            if sample is not None:
                return sample
        raise DataError(
            f"{type(self).__name__} ({self.ann_file}): the pipeline dropped {self.max_refetch + 1} samples in a row "
            f"(starting at {idx}); check the pipeline"
        )

    def __repr__(self) -> str:
        size = str(len(self)) if self._loaded else "not loaded"
        return (
            f"{type(self).__name__}(ann_file={self.ann_file!r}, data_mode={self.data_mode!r}, "
            f"metainfo={self.metainfo.dataset_name!r}, samples={size})"
        )
