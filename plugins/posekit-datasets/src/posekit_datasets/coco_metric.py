"""CocoMetric: COCO keypoint AP/AR (OKS) for any COCO-format keypoint dataset, as MMPose's.

Around pycocotools' evaluation it does what MMPose's ``CocoMetric`` does: group predictions
per image (sorted by annotation id, duplicates dropped), rescore each instance
(``score_mode``), suppress overlaps per image (``nms_mode``), write the COCO results file,
and evaluate it against the annotation file (or a ground truth built from the samples).
CrowdPose's protocol (``iou_type='keypoints_crowd'``) adds AP(easy/medium/hard).

OKS needs per-keypoint sigmas. They come, in this order, from ``sigmas``, ``uniform_sigma``,
the ``metainfo`` definition, or the dataset's definition (``set_dataset_meta``); a definition
without sigmas is refused. Next to every results file ``<prefix>.keypoints.json`` (a plain
COCO results list) a ``<prefix>.keypoints.meta.json`` records the sigmas, where they came from,
and the settings. :mod:`posekit_datasets.coco_results` evaluates such a file without a model
(``posekit test CONFIG --results FILE`` through :meth:`CocoMetric.evaluate_results_file`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from posekit.errors import ConfigError, DataError
from posekit.metrics.base import BaseMetric, check_finite, check_shape, describe, load_definition, meta_value
from posekit_datasets.cocoeval import (
    IouType,
    check_ground_truth,
    coco_from_dict,
    evaluate_keypoints,
    load_coco,
)
from posekit_datasets.oks_nms import oks_nms, soft_oks_nms

if TYPE_CHECKING:
    from pycocotools.coco import COCO

    from posekit.structures import PoseResult

ScoreMode = Literal["bbox", "bbox_keypoint", "bbox_rle", "keypoint"]
NmsMode = Literal["oks_nms", "soft_oks_nms", "none"]

__all__ = ["CocoMetric", "meta_file", "resolve_sigmas"]


def meta_file(results_file: str | Path) -> Path:
    """The record beside a results file: ``x.keypoints.json`` -> ``x.keypoints.meta.json``."""
    return Path(results_file).with_suffix(".meta.json")


NO_SIGMA_SOURCE = (
    "CocoMetric has no OKS sigmas: pass metainfo='<definition name or file>' (e.g. 'coco'), "
    "sigmas=(...), or uniform_sigma=<float>, or evaluate through a trainer, which hands the "
    "dataset's keypoint definition to set_dataset_meta()"
)


def _no_sigmas_message(definition: str) -> str:
    return (
        f"CocoMetric needs per-keypoint OKS sigmas, but {definition} has none, so COCO AP/AR (OKS) is "
        "undefined for it. Evaluate this dataset with PCKAccuracy or NME instead, or pass "
        "uniform_sigma=<float> (e.g. 0.05) to CocoMetric to use one sigma for every keypoint "
        "(the results file records that choice)."
    )


def resolve_sigmas(
    *,
    sigmas: Sequence[float] | None,
    uniform_sigma: float | None,
    definition: Any,
    definition_origin: str,
    num_keypoints: int | None,
) -> tuple[np.ndarray | None, str]:
    """The OKS sigmas and a sentence saying where they come from.

    The sigmas are None only for ``uniform_sigma`` while the keypoint count is unknown.

    Args:
        sigmas: explicit (K,) sigmas, or None.
        uniform_sigma: one sigma for every keypoint, or None.
        definition: a keypoint definition (``KeypointInfo`` or MMPose ``dataset_meta``), or None.
        definition_origin: how ``definition`` was given, for the record (e.g. ``metainfo 'coco'``).
        num_keypoints: K when known.
    """
    if sigmas is not None and uniform_sigma is not None:
        raise ConfigError("CocoMetric: give either sigmas or uniform_sigma, not both")
    if sigmas is not None:
        return np.asarray(sigmas, dtype=np.float64), "the sigmas argument of CocoMetric"
    if uniform_sigma is not None:
        if uniform_sigma <= 0:
            raise ConfigError(f"CocoMetric: uniform_sigma must be positive, got {uniform_sigma}")
        k = num_keypoints if num_keypoints is not None else meta_value(definition, "num_keypoints")
        values = np.full(k, uniform_sigma, dtype=np.float64) if k is not None else None
        return values, f"uniform_sigma={uniform_sigma} (the same sigma for every keypoint)"
    if definition is None:
        raise ConfigError(NO_SIGMA_SOURCE)
    name = meta_value(definition, "dataset_name", "?")
    values = meta_value(definition, "sigmas")
    if values is None or len(values) == 0:
        raise ConfigError(_no_sigmas_message(f"the keypoint definition {name!r} ({definition_origin})"))
    return np.asarray(values, dtype=np.float64), f"the keypoint definition {name!r} ({definition_origin})"


def _score(mode: ScoreMode, keypoint_scores: np.ndarray, bbox_scores: np.ndarray, thr: float) -> np.ndarray:
    """Instance scores ``(M,)`` from keypoint scores ``(M, K)`` and box scores ``(M,)`` (MMPose's rescoring)."""
    if mode == "bbox":
        return bbox_scores
    if mode == "keypoint":
        return keypoint_scores.mean(axis=1)
    if mode == "bbox_rle":
        return bbox_scores + keypoint_scores.mean(axis=1) + keypoint_scores.max(axis=1)
    confident = keypoint_scores > thr
    total = np.where(confident, keypoint_scores, 0).astype(np.float64).sum(axis=1)
    count = confident.sum(axis=1)
    mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return bbox_scores.astype(np.float64) * mean


class CocoMetric(BaseMetric):
    """COCO keypoint AP/AR (the 10 standard stats; CrowdPose's 9 with ``iou_type='keypoints_crowd'``).

    ``process`` takes top-down results (one instance per sample, ``sample.id`` its annotation or
    detection id) or bottom-up results (all people of an image). Keypoints are (N, K, 2) in
    original image pixels. A result's ``bboxes`` (N, 4) xyxy are written to the results file as
    ``bbox`` (xywh), as MMPose does; pass an empty (0, 4) array to leave them out. The area used
    by OKS-NMS is ``prod(sample.bbox_scale)`` (the padded box of a top-down sample, as MMPose),
    else the keypoints' extent (bottom-up).

    Metric names are ``coco/AP``, ``coco/AP .5``, ... (``prefix`` replaces ``coco``).

    Args:
        ann_file: COCO-format annotation file with the ground truth; None builds the ground
            truth from the processed samples (their keypoints, boxes, areas). Default None.
        use_area: scale OKS by the annotations' ``area``; False uses ``0.53 * w * h`` of the box
            (CrowdPose, AIC). Default True.
        iou_type: ``'keypoints'`` (COCO) or ``'keypoints_crowd'`` (CrowdPose: AP(E/M/H) from each
            image's ``crowdIndex``). Default ``'keypoints'``.
        score_mode: instance score: ``'bbox'`` (the box score), ``'bbox_keypoint'`` (box score times
            the mean keypoint score above ``keypoint_score_thr``), ``'keypoint'`` (the mean
            keypoint score), ``'bbox_rle'`` (box + mean + max keypoint score). Default ``'bbox_keypoint'``.
        keypoint_score_thr: keypoint-score threshold of ``'bbox_keypoint'``; default 0.2.
        nms_mode: ``'oks_nms'``, ``'soft_oks_nms'`` or ``'none'`` (bottom-up). Default ``'oks_nms'``.
        nms_thr: OKS threshold of the NMS; default 0.9.
        format_only: only write the results file (no ground truth needed; needs ``outfile_prefix``).
        outfile_prefix: write ``<prefix>.keypoints.json`` (and ``.meta.json``) there; None writes to
            a temporary folder removed after evaluation.
        prefix: metric-name prefix; default ``'coco'``.
        metainfo: keypoint definition (registered name or YAML/JSON file) whose sigmas to use;
            default None (the dataset's, from ``set_dataset_meta``).
        sigmas: explicit (K,) OKS sigmas; default None.
        uniform_sigma: one OKS sigma for every keypoint, for definitions without sigmas; default None.
    """

    default_prefix = "coco"

    def __init__(
        self,
        ann_file: str | None = None,
        use_area: bool = True,
        iou_type: IouType = "keypoints",
        score_mode: ScoreMode = "bbox_keypoint",
        keypoint_score_thr: float = 0.2,
        nms_mode: NmsMode = "oks_nms",
        nms_thr: float = 0.9,
        format_only: bool = False,
        outfile_prefix: str | None = None,
        prefix: str | None = None,
        metainfo: str | None = None,
        sigmas: tuple[float, ...] | None = None,
        uniform_sigma: float | None = None,
    ) -> None:
        super().__init__(prefix=prefix)
        if score_mode not in ScoreMode.__args__:
            raise ConfigError(f"CocoMetric: score_mode must be one of {ScoreMode.__args__}, got {score_mode!r}")
        if nms_mode not in NmsMode.__args__:
            raise ConfigError(f"CocoMetric: nms_mode must be one of {NmsMode.__args__}, got {nms_mode!r}")
        if iou_type not in IouType.__args__:
            raise ConfigError(f"CocoMetric: iou_type must be one of {IouType.__args__}, got {iou_type!r}")
        if format_only and outfile_prefix is None:
            raise ConfigError(
                "CocoMetric: format_only=True needs outfile_prefix, or the results file would be written to a "
                "temporary folder and deleted"
            )
        if ann_file is not None and not Path(ann_file).is_file():
            raise ConfigError(f"CocoMetric: ann_file {ann_file} does not exist")
        self.ann_file = ann_file
        self.use_area = use_area
        self.iou_type = iou_type
        self.score_mode = score_mode
        self.keypoint_score_thr = keypoint_score_thr
        self.nms_mode = nms_mode
        self.nms_thr = nms_thr
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self.metainfo = metainfo
        self.sigmas = sigmas
        self.uniform_sigma = uniform_sigma
        self._definition = load_definition(metainfo) if metainfo is not None else None
        self._coco: COCO | None = None
        self._first_k: int | None = None
        self._sigmas()  # refuse a definition without sigmas now, not after an evaluation pass

    # ---- sigmas and ground truth ----

    def set_dataset_meta(self, metainfo: Any) -> None:
        super().set_dataset_meta(metainfo)
        self._sigmas()

    def _sigmas(self, num_keypoints: int | None = None) -> tuple[np.ndarray | None, str]:
        """(sigmas, where they come from); sigmas None while no source is known yet."""
        if self._definition is not None:
            definition, origin = self._definition, f"metainfo {self.metainfo!r}"
        else:
            definition, origin = self._dataset_meta, "the evaluated dataset's dataset_meta"
        if definition is None and self.sigmas is None and self.uniform_sigma is None:
            return None, ""
        return resolve_sigmas(
            sigmas=self.sigmas,
            uniform_sigma=self.uniform_sigma,
            definition=definition,
            definition_origin=origin,
            num_keypoints=num_keypoints,
        )

    def _ground_truth_file(self) -> COCO | None:
        if self.ann_file is not None and self._coco is None:
            self._coco = load_coco(self.ann_file)
        return self._coco

    # ---- per sample ----

    def _record(self, result: PoseResult, index: int) -> dict[str, Any]:
        sample = result.sample
        where = f"CocoMetric.process: {describe(index, sample)}"
        keypoints = np.asarray(result.keypoints)
        n = keypoints.shape[0] if keypoints.ndim else 0
        sigmas, source = self._sigmas()
        k = len(sigmas) if sigmas is not None else self._first_k
        hint = f" (K from the sigmas of {source})" if sigmas is not None else ""
        check_shape("keypoints", keypoints, (n, k, 2), where, hint)
        k = keypoints.shape[1]
        self._first_k = self._first_k or k
        keypoint_scores = np.asarray(result.keypoint_scores)
        bbox_scores = np.asarray(result.bbox_scores)
        bboxes = np.asarray(result.bboxes)
        check_shape("keypoint_scores", keypoint_scores, (n, k), where)
        check_shape("bbox_scores", bbox_scores, (n,), where)
        if len(bboxes):
            check_shape("bboxes", bboxes, (n, 4), where, " (or an empty (0, 4) array for none)")
        check_finite("keypoints", keypoints, where)
        check_finite("keypoint_scores", keypoint_scores, where)
        check_finite("bbox_scores", bbox_scores, where)
        coco = self._ground_truth_file()
        if coco is not None and sample.img_id not in coco.imgs:
            raise DataError(f"{where}: image id {sample.img_id} is not an image of the annotation file {self.ann_file}")

        bbox_scale = np.asarray(sample.bbox_scale)
        if bbox_scale.shape == (n, 2):
            areas = np.prod(bbox_scale, axis=1)
        else:
            extent = keypoints.max(axis=1) - keypoints.min(axis=1) if n else np.zeros((0, 2))
            areas = extent[:, 0] * extent[:, 1]
        record = {
            "img_id": int(sample.img_id),
            "id": int(sample.id),
            "category_id": int(sample.category_id),
            "keypoints": keypoints,
            "keypoint_scores": keypoint_scores,
            "bbox_scores": bbox_scores,
            "areas": areas,
            "bboxes": np.concatenate([bboxes[:, :2], bboxes[:, 2:] - bboxes[:, :2]], axis=1) if len(bboxes) else None,
        }
        if self.ann_file is None and not self.format_only:
            record["gt"] = self._sample_ground_truth(sample, where)
        return record

    def _sample_ground_truth(self, sample: Any, where: str) -> dict[str, Any]:
        """The sample's image and ground-truth people as COCO dicts (annotation ids assigned later)."""
        gt_keypoints = np.asarray(sample.keypoints, dtype=np.float64)
        m = len(gt_keypoints)
        visible = np.asarray(sample.keypoints_visible, dtype=np.float64).reshape(m, -1)
        boxes = np.asarray(sample.bbox, dtype=np.float64).reshape(m, 4)
        labelled = np.asarray(sample.num_keypoints)
        num_labelled = labelled if labelled.shape == (m,) else (visible > 0).sum(axis=1)
        iscrowd = np.asarray(sample.iscrowd)
        area = np.asarray(sample.area, dtype=np.float64)
        if self.use_area and area.shape != (m,):
            raise DataError(
                f"{where}: the ground truth is built from the samples (ann_file=None) and use_area=True, "
                f"but sample.area has shape {area.shape}, not ({m},)"
            )
        if self.iou_type == "keypoints_crowd" and sample.crowd_index is None:
            raise DataError(f"{where}: iou_type='keypoints_crowd' needs sample.crowd_index (CrowdPose's crowd index)")
        triplets = np.concatenate([gt_keypoints[..., :2], np.where(visible > 0, 2.0, 0.0)[..., None]], axis=-1)
        annotations = []
        for i in range(m):
            x1, y1, x2, y2 = boxes[i].tolist()
            ann = {
                "image_id": int(sample.img_id),
                "category_id": int(sample.category_id),
                "keypoints": triplets[i].reshape(-1).tolist(),
                "num_keypoints": int(num_labelled[i]),
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "iscrowd": int(iscrowd[i]) if iscrowd.shape == (m,) else 0,
            }
            if area.shape == (m,):
                ann["area"] = float(area[i])
            annotations.append(ann)
        height, width = sample.ori_shape
        image = {"id": int(sample.img_id), "width": int(width), "height": int(height)}
        if sample.crowd_index is not None:
            image["crowdIndex"] = float(sample.crowd_index)
        return {"image": image, "annotations": annotations}

    # ---- evaluation ----

    def _ground_truth(self, records: list[dict[str, Any]]) -> COCO:
        coco = self._ground_truth_file()
        if coco is not None:
            return coco
        images: dict[int, dict[str, Any]] = {}
        annotations = []
        for record in records:
            gt = record["gt"]
            images.setdefault(gt["image"]["id"], gt["image"])
            annotations += [{**ann, "id": len(annotations) + i + 1} for i, ann in enumerate(gt["annotations"])]
        categories = sorted({a["category_id"] for a in annotations} | {r["category_id"] for r in records})
        return coco_from_dict(
            {
                "info": {"description": "ground truth built from the evaluated samples by posekit CocoMetric"},
                "images": list(images.values()),
                "annotations": annotations,
                "categories": [{"id": c, "name": str(c)} for c in categories],
            }
        )

    def _results(self, records: list[dict[str, Any]], sigmas: np.ndarray) -> list[dict[str, Any]]:
        """Group per image (sorted by id), rescore, NMS: the COCO results list."""
        by_image: dict[int, list[dict[str, Any]]] = {}
        for record in records:
            by_image.setdefault(record["img_id"], []).append(record)
        results: list[dict[str, Any]] = []
        for group in by_image.values():
            group.sort(key=lambda r: r["id"])
            keypoints = np.concatenate([r["keypoints"] for r in group])
            if not len(keypoints):
                continue
            keypoint_scores = np.concatenate([r["keypoint_scores"] for r in group])
            bbox_scores = np.concatenate([r["bbox_scores"] for r in group])
            areas = np.concatenate([r["areas"] for r in group])
            categories = np.concatenate([np.full(len(r["keypoints"]), r["category_id"]) for r in group])
            with_boxes = all(r["bboxes"] is not None for r in group)
            bboxes = np.concatenate([r["bboxes"] for r in group]) if with_boxes else None
            scores = _score(self.score_mode, keypoint_scores, bbox_scores, self.keypoint_score_thr)
            if self.nms_mode == "oks_nms":
                keep = oks_nms(keypoints, scores, areas, self.nms_thr, sigmas)
            elif self.nms_mode == "soft_oks_nms":
                keep = soft_oks_nms(keypoints, scores, areas, self.nms_thr, sigmas)
            else:
                keep = np.arange(len(keypoints))
            triplets = np.concatenate([keypoints, keypoint_scores[..., None]], axis=-1).reshape(len(keypoints), -1)
            for i in keep:
                entry = {
                    "image_id": group[0]["img_id"],
                    "category_id": int(categories[i]),
                    "keypoints": triplets[i].tolist(),
                    "score": float(scores[i]),
                }
                if bboxes is not None:
                    entry["bbox"] = bboxes[i].tolist()
                results.append(entry)
        return results

    def _checked_sigmas(self, records: list[dict[str, Any]]) -> tuple[int, np.ndarray, str]:
        """K of the records, the (K,) OKS sigmas and where they come from; refused when they disagree."""
        ks = {r["keypoints"].shape[1] for r in records}
        if len(ks) > 1:
            raise DataError(f"CocoMetric: the processed results have different keypoint counts K: {sorted(ks)}")
        k = ks.pop()
        sigmas, source = self._sigmas(num_keypoints=k)
        if sigmas is None:
            raise ConfigError(NO_SIGMA_SOURCE)
        if len(sigmas) != k:
            raise DataError(
                f"CocoMetric: the results have K={k} keypoints but the sigmas of {source} have {len(sigmas)}"
            )
        return k, sigmas, source

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Rescore, NMS, write the results file, evaluate it: ``{'AP': ..., ...}`` (prefix added by evaluate)."""
        k, sigmas, source = self._checked_sigmas(records)
        results = self._results(records, sigmas)

        with tempfile.TemporaryDirectory() as tmp:
            prefix = self.outfile_prefix if self.outfile_prefix is not None else str(Path(tmp) / "results")
            Path(prefix).parent.mkdir(parents=True, exist_ok=True)
            results_file = Path(f"{prefix}.keypoints.json")
            results_file.write_text(json.dumps(results, sort_keys=True))  # dumps: the C encoder
            meta = {
                "num_keypoints": k,
                "sigmas": sigmas.tolist(),
                "sigmas_source": source,
                "iou_type": self.iou_type,
                "use_area": self.use_area,
                "score_mode": self.score_mode,
                "keypoint_score_thr": self.keypoint_score_thr,
                "nms_mode": self.nms_mode,
                "nms_thr": self.nms_thr,
                "ann_file": self.ann_file,
                "num_results": len(results),
            }
            with open(meta_file(results_file), "w") as f:
                json.dump(meta, f, indent=2)
        if self.format_only:
            return {}
        coco = self._ground_truth(records)
        check_ground_truth(
            coco, k, use_area=self.use_area, crowd=self.iou_type == "keypoints_crowd", source=self._gt_source()
        )
        return evaluate_keypoints(coco, results, sigmas, iou_type=self.iou_type, use_area=self.use_area)

    def _gt_source(self) -> str:
        return (
            f"annotation file {self.ann_file}" if self.ann_file is not None else "ground truth built from the samples"
        )

    @classmethod
    def evaluate_results_file(
        cls,
        results_file: str | Path,
        metric_cfg: dict[str, Any],
        dataset_cfg: dict[str, Any],
        metainfo: Any = None,
    ) -> dict[str, float]:
        """``posekit test --results``: a results file evaluated with this metric's settings, without a model.

        The annotation file is the metric's ``ann_file``, else the dataset's (joined to its
        ``data_root``); sigmas, IoU type and ``use_area`` follow the metric config, else the
        record written beside the file. Returns the statistics under the metric's prefix.
        """
        from posekit_datasets.coco_results import evaluate_results_file

        ann_file = metric_cfg.get("ann_file")
        if ann_file is None and dataset_cfg.get("ann_file") is not None:
            root, ann_file = dataset_cfg.get("data_root"), str(dataset_cfg["ann_file"])
            if root and not Path(ann_file).is_absolute():
                ann_file = str(Path(root) / ann_file)
        if ann_file is None:
            raise ConfigError(
                f"--results needs an annotation file: set evaluator[].ann_file of {metric_cfg['type']} "
                "or data.test.dataset.ann_file"
            )
        definition = metric_cfg.get("metainfo") or metainfo
        if definition is None and isinstance(dataset_cfg.get("metainfo"), str):
            definition = dataset_cfg["metainfo"]
        stats = evaluate_results_file(
            results_file,
            ann_file,
            metainfo=definition,
            sigmas=metric_cfg.get("sigmas"),
            uniform_sigma=metric_cfg.get("uniform_sigma"),
            iou_type=metric_cfg.get("iou_type"),
            use_area=metric_cfg.get("use_area"),
        )
        prefix = metric_cfg.get("prefix") or cls.default_prefix
        return {f"{prefix}/{k}": float(v) for k, v in stats.items()}
