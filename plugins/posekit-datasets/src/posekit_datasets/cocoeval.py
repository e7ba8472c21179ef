"""COCO keypoint AP/AR with pycocotools, under the protocol MMPose evaluates with (xtcocotools).

pycocotools does the matching, accumulation and the COCO summary. Around it, this module
applies what xtcocotools (MMPose's evaluator) does differently, so the numbers are MMPose's:

- a ground-truth person is ignored when it is a crowd or has no labelled keypoint; "labelled"
  counts ``v > 0`` in its keypoints (COCO), or reads ``num_keypoints`` for CrowdPose, whose
  ``num_keypoints`` counts only the ``v == 2`` joints;
- a prediction whose keypoint scores are all zero is dropped;
- ``use_area=False`` (CrowdPose, AIC: no ``area`` field) scales OKS and the area ranges by
  ``0.53 * w * h`` of the ground-truth box;
- ``keypoints_crowd`` reports AP/AR at maxDets 20 and CrowdPose's AP(easy/medium/hard) on the
  images whose ``crowdIndex`` is below 0.2 / below 0.8 / above, each the mean of the whole
  precision array of that subset rounded to 4 decimals (-1 for an empty subset).
"""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posekit.datasets._io import read_json
from posekit.errors import DataError

IouType = Literal["keypoints", "keypoints_crowd"]

COCO_STATS = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")
CROWD_STATS = ("AP", "AP .5", "AP .75", "AR", "AR .5", "AR .75", "AP(E)", "AP(M)", "AP(H)")
#: CrowdPose's crowd-index bounds of the easy / medium / hard image subsets
CROWD_INDEX_BOUNDS = (0.2, 0.8)


def quiet() -> contextlib.AbstractContextManager[Any]:
    """Silence pycocotools' progress prints."""
    return contextlib.redirect_stdout(io.StringIO())


def coco_from_dict(dataset: dict[str, Any]) -> COCO:
    """A pycocotools ``COCO`` index over an annotation dict (no file, no prints)."""
    coco = COCO()
    coco.dataset = dataset
    with quiet():
        coco.createIndex()
    return coco


def load_coco(ann_file: str | Path) -> COCO:
    """Read a COCO keypoint annotation file; errors name the file."""
    path = Path(ann_file)
    dataset = read_json(path)
    if not isinstance(dataset, dict) or "images" not in dataset:
        raise DataError(f"annotation file {path} is not a COCO annotation file (no 'images' list)")
    return coco_from_dict(dataset)


def load_results(coco_gt: COCO, results: list[dict[str, Any]]) -> COCO:
    """``coco_gt.loadRes`` on a copy of ``results`` (an empty list gives an empty result set)."""
    if not results:
        return coco_from_dict(
            {"images": list(coco_gt.dataset["images"]), "categories": coco_gt.dataset.get("categories", []),
             "annotations": []}
        )  # fmt: skip
    with quiet():
        return coco_gt.loadRes([dict(r) for r in results])


class KeypointEval(COCOeval):
    """pycocotools' ``COCOeval`` for keypoints with xtcocotools' ground-truth and prediction rules.

    Args:
        coco_gt: ground truth.
        coco_dt: predictions (``coco_gt.loadRes(...)``).
        sigmas: (K,) OKS sigmas.
        use_area: scale OKS by the annotation's ``area``; else by ``0.53 * w * h`` of its box.
        crowd: CrowdPose rules (``num_keypoints`` decides whether a person is labelled).
    """

    def __init__(self, coco_gt: COCO, coco_dt: COCO, sigmas: np.ndarray, *, use_area: bool, crowd: bool) -> None:
        super().__init__(coco_gt, coco_dt, iouType="keypoints")
        self.params.kpt_oks_sigmas = np.asarray(sigmas)
        self.use_area = use_area
        self.crowd = crowd

    def _prepare(self) -> None:
        p = self.params
        gts = self.cocoGt.loadAnns(self.cocoGt.getAnnIds(imgIds=p.imgIds, catIds=p.catIds))
        dts = self.cocoDt.loadAnns(self.cocoDt.getAnnIds(imgIds=p.imgIds, catIds=p.catIds))
        self._gts = defaultdict(list)
        self._dts = defaultdict(list)
        for ann in gts:
            gt = dict(ann)  # pycocotools marks its dicts; keep the index's annotations untouched
            if self.crowd:
                labelled = gt["num_keypoints"]
            else:
                labelled = np.count_nonzero(np.asarray(gt["keypoints"])[2::3] > 0)
            gt["ignore"] = bool(gt.get("iscrowd", 0)) or labelled == 0
            if not self.use_area:
                gt["area"] = gt["bbox"][2] * gt["bbox"][3] * 0.53
            self._gts[gt["image_id"], gt["category_id"]].append(gt)
        for dt in dts:
            if np.count_nonzero(np.asarray(dt["keypoints"])[2::3] > 0):
                self._dts[dt["image_id"], dt["category_id"]].append(dt)
        self.evalImgs = defaultdict(list)
        self.eval = {}

    def run(self) -> np.ndarray:
        """evaluate, accumulate and summarize (silently); the 10 COCO keypoint stats."""
        with quiet():
            self.evaluate()
            self.accumulate()
            self.summarize()
        return np.asarray(self.stats, dtype=np.float64)

    def subset_ap(self, img_ids: list[int]) -> float:
        """CrowdPose's AP of an image subset: mean of the whole precision array (area 'all'), 4 decimals."""
        if not img_ids:
            return -1.0
        self.params.imgIds = img_ids
        with quiet():
            self.evaluate()
            self.accumulate()
        return float(np.round(np.mean(self.eval["precision"][:, :, :, 0, :]), 4))


def check_ground_truth(coco_gt: COCO, num_keypoints: int, *, use_area: bool, crowd: bool, source: str) -> None:
    """Every annotation has 3K keypoint values, a box, and the fields the protocol reads."""
    for ann in coco_gt.dataset.get("annotations", []):
        where = f"{source}: annotation id {ann.get('id')} (image_id {ann.get('image_id')})"
        kpts = ann.get("keypoints")
        if kpts is None or len(kpts) != 3 * num_keypoints:
            got = "none" if kpts is None else f"{len(kpts) // 3} ({len(kpts)} values)"
            raise DataError(f"{where}: keypoints must hold K={num_keypoints} (x, y, v) triplets, got {got}")
        if "bbox" not in ann:
            raise DataError(f"{where}: no 'bbox'")
        if use_area and "area" not in ann:
            raise DataError(f"{where}: no 'area'; evaluate with use_area=False (as for CrowdPose and AIC)")
        if crowd and "num_keypoints" not in ann:
            raise DataError(f"{where}: no 'num_keypoints', which iou_type='keypoints_crowd' reads")
    if crowd:
        missing = [img["id"] for img in coco_gt.dataset["images"] if "crowdIndex" not in img]
        if missing:
            raise DataError(
                f"{source}: iou_type='keypoints_crowd' needs each image's 'crowdIndex' (CrowdPose's crowd "
                f"index); images {missing[:5]} have none"
            )


def evaluate_keypoints(
    coco_gt: COCO, results: list[dict[str, Any]], sigmas: np.ndarray, *, iou_type: IouType, use_area: bool
) -> dict[str, float]:
    """The summary statistics of COCO-format keypoint ``results`` against ``coco_gt``.

    Returns the 10 COCO stats (``AP`` ... ``AR (L)``) for ``keypoints``, or CrowdPose's 9
    (``AP`` ... ``AR .75``, ``AP(E)``, ``AP(M)``, ``AP(H)``) for ``keypoints_crowd``.
    """
    crowd = iou_type == "keypoints_crowd"
    coco_eval = KeypointEval(coco_gt, load_results(coco_gt, results), sigmas, use_area=use_area, crowd=crowd)
    stats = coco_eval.run()
    if not crowd:
        return dict(zip(COCO_STATS, (float(s) for s in stats), strict=True))
    # maxDets is 20 for every keypoint stat, so CrowdPose's AP/AR are COCO's overall ones
    values = [float(stats[i]) for i in (0, 1, 2, 5, 6, 7)]
    first, second = CROWD_INDEX_BOUNDS
    images = coco_gt.dataset["images"]
    easy = [img["id"] for img in images if img["crowdIndex"] < first]
    medium = [img["id"] for img in images if first <= img["crowdIndex"] < second]
    hard = [img["id"] for img in images if img["crowdIndex"] >= second]
    values += [coco_eval.subset_ap(ids) for ids in (easy, medium, hard)]
    return dict(zip(CROWD_STATS, values, strict=True))
