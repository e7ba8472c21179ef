"""COCO keypoint results files evaluated without a model (``posekit test CONFIG --results FILE``).

A results file is the plain COCO results list :class:`~posekit_datasets.coco_metric.CocoMetric`
writes (``<prefix>.keypoints.json``); the record beside it (``.meta.json``) gives the sigmas and
settings it was written with. The results are evaluated as written (no rescoring or NMS).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posekit.datasets._io import read_json
from posekit.errors import ConfigError, DataError
from posekit.metrics.base import check_finite, load_definition
from posekit_datasets.coco_metric import meta_file, resolve_sigmas
from posekit_datasets.cocoeval import IouType, check_ground_truth, evaluate_keypoints, load_coco

__all__ = ["evaluate_results_file"]


def _read_results(results_file: Path) -> list[dict[str, Any]]:
    results = read_json(results_file, "results file")
    if not isinstance(results, list):
        raise DataError(
            f"results file {results_file} must hold a COCO results list ([{{image_id, category_id, keypoints, "
            f"score}}, ...]), got a {type(results).__name__}"
        )
    return results


def _check_results(results: list[dict[str, Any]], source: Path) -> int:
    """Validate COCO results entries; return K."""
    k = None
    for i, entry in enumerate(results):
        where = f"results file {source}: entry {i}"
        if not isinstance(entry, dict) or not {"image_id", "category_id", "keypoints", "score"} <= set(entry):
            raise DataError(f"{where} must be an object with image_id, category_id, keypoints and score")
        kpts = np.asarray(entry["keypoints"], dtype=np.float64)
        if kpts.ndim != 1 or len(kpts) % 3 or (k is not None and len(kpts) != 3 * k):
            want = f"3*K = {3 * k}" if k is not None else "a multiple of 3"
            raise DataError(
                f"{where} (image_id {entry['image_id']}): keypoints must hold {want} values, got {kpts.size}"
            )
        k = len(kpts) // 3
        check_finite("keypoints", kpts, f"{where} (image_id {entry['image_id']})")
        check_finite("score", np.asarray(entry["score"], dtype=np.float64), f"{where} (image_id {entry['image_id']})")
    return k or 0


def evaluate_results_file(
    results_file: str | Path,
    ann_file: str | Path,
    *,
    metainfo: str | None = None,
    sigmas: Sequence[float] | None = None,
    uniform_sigma: float | None = None,
    iou_type: IouType | None = None,
    use_area: bool | None = None,
) -> dict[str, float]:
    """Evaluate a COCO keypoint results file against an annotation file, without a model.

    The results are evaluated as written (no rescoring or NMS). Sigmas come from ``sigmas``,
    ``uniform_sigma`` or ``metainfo`` when given, else from the ``.meta.json`` record posekit
    wrote beside the file; ``iou_type`` and ``use_area`` likewise default to the record's
    (else ``'keypoints'`` and True).

    Args:
        results_file: COCO results list ``[{image_id, category_id, keypoints: [x, y, score] * K, score}]``.
        ann_file: COCO-format annotation file.
        metainfo: keypoint definition (name or file) whose sigmas to use.
        sigmas: explicit (K,) OKS sigmas.
        uniform_sigma: one OKS sigma for every keypoint.
        iou_type: ``'keypoints'`` or ``'keypoints_crowd'`` (CrowdPose).
        use_area: scale OKS by the annotations' ``area`` (False: ``0.53 * w * h`` of the box).

    Returns:
        The summary statistics by name (``AP``, ``AP .5``, ...; see ``COCO_STATS``/``CROWD_STATS``).
    """
    results_file = Path(results_file)
    results = _read_results(results_file)
    coco = load_coco(ann_file)
    first_ann = next(iter(coco.anns.values()), None)
    k = _check_results(results, results_file) or (len(first_ann["keypoints"]) // 3 if first_ann else 0)
    record_path = meta_file(results_file)
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    if sigmas is None and uniform_sigma is None and metainfo is None and "sigmas" in record:
        sigmas = record["sigmas"]
        source = f"the record {record_path} ({record.get('sigmas_source', 'source not recorded')})"
        values = np.asarray(sigmas, dtype=np.float64)
    else:
        definition = load_definition(metainfo) if metainfo is not None else None
        values, source = resolve_sigmas(
            sigmas=sigmas,
            uniform_sigma=uniform_sigma,
            definition=definition,
            definition_origin=f"metainfo {metainfo!r}",
            num_keypoints=k or None,
        )
    if values is None or len(values) != k:
        got = "none" if values is None else len(values)
        raise DataError(f"results file {results_file} has K={k} keypoints but the sigmas of {source} have {got}")
    iou_type = iou_type or record.get("iou_type", "keypoints")
    if iou_type not in IouType.__args__:
        raise ConfigError(f"iou_type must be one of {IouType.__args__}, got {iou_type!r}")
    use_area = use_area if use_area is not None else record.get("use_area", True)
    check_ground_truth(
        coco, len(values), use_area=use_area, crowd=iou_type == "keypoints_crowd", source=f"annotation file {ann_file}"
    )
    unknown = sorted({e["image_id"] for e in results} - set(coco.imgs))
    if unknown:
        raise DataError(
            f"results file {results_file} has predictions for image ids {unknown[:10]} that are not images of "
            f"the annotation file {ann_file}"
        )
    return evaluate_keypoints(coco, results, values, iou_type=iou_type, use_area=use_area)
