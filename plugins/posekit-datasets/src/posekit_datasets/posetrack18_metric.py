"""PoseTrack18Metric: PoseTrack18's per-joint AP, as MMPose's (which hands its results files to poseval).

As MMPose's ``PoseTrack18Metric``, the predictions are rescored and suppressed as
:class:`~posekit_datasets.coco_metric.CocoMetric` does, then written as one PoseTrack18 file per
video of the ground-truth folder (same file names, same images, ``keypoints`` / ``scores`` /
``score`` / ``track_id`` per person) into the folder of ``outfile_prefix``, and evaluated against
that folder with poseval's per-frame AP (:mod:`posekit_datasets.posetrack_ap`).

The ground-truth folder is found as MMPose finds it: ``DIR/posetrack18_val.json`` -> ``DIR/val/``
(the text after the annotation file's last ``_``, without its extension).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from posekit.datasets._io import read_json
from posekit.errors import ConfigError, DataError
from posekit.metrics.base import load_definition
from posekit_datasets.coco_metric import CocoMetric, NmsMode, ScoreMode
from posekit_datasets.posetrack_ap import JOINTS, Frame, evaluate_ap, summarize

#: the skeleton of the written files' category (1-based; MMPose's and poseval's, not the definition's)
SKELETON: list[list[int]] = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
    [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]  # fmt: skip


def gt_folder(ann_file: str) -> Path:
    """MMPose's ground-truth folder of ``ann_file``: ``a/posetrack18_val.json`` -> ``a/val``."""
    return Path(os.path.dirname(ann_file)) / os.path.splitext(ann_file.split("_")[-1])[0]


def _joint_columns(video: dict[str, Any], where: str) -> np.ndarray:
    """(J,) column of each poseval joint in the file's keypoint order (its category's ``keypoints``)."""
    categories = video.get("categories") or [{}]
    names = list(categories[0].get("keypoints") or load_definition("posetrack18").keypoint_names)
    missing = [j for j in JOINTS if j not in names]
    if missing:
        raise DataError(f"{where}: categories[0].keypoints lacks the PoseTrack joints {missing}")
    return np.array([names.index(j) for j in JOINTS])


def _people(anns: list[dict[str, Any]], columns: np.ndarray, scores: bool, where: str) -> tuple[np.ndarray, ...]:
    """(N, J, 2) points, (N, J) present (not ``0, 0, 0``) and (N, J) scores of a frame's people."""
    n, k = len(anns), int(columns.max()) + 1
    triplets = np.zeros((n, k, 3))
    score = np.zeros((n, k))
    for i, ann in enumerate(anns):
        values = np.asarray(ann.get("keypoints", []), np.float64)
        if values.size < 3 * k or values.size % 3:
            raise DataError(f"{where}: annotation {ann.get('id', i)} has {values.size} keypoint values, not K x 3")
        triplets[i] = values.reshape(-1, 3)[:k]
        if scores:
            score[i] = np.asarray(ann.get("scores") or triplets[i, :, 2], np.float64)[:k]
    picked = triplets[:, columns]
    present = np.any(picked != 0, axis=2)
    return picked[..., :2], present, score[:, columns]


def _head_boxes(anns: list[dict[str, Any]], where: str) -> np.ndarray:
    """(G, 4) head boxes x1, y1, x2, y2 from each person's ``bbox_head`` (x, y, w, h)."""
    boxes = np.zeros((len(anns), 4))
    for i, ann in enumerate(anns):
        if len(ann.get("bbox_head") or ()) != 4:
            raise DataError(f"{where}: annotation {ann.get('id', i)} has no bbox_head [x, y, w, h] (PCKh's head size)")
        x, y, w, h = ann["bbox_head"]
        boxes[i] = [x, y, x + w, y + h]
    return boxes


def video_frames(gt: dict[str, Any], pred: dict[str, Any], where: str) -> list[Frame]:
    """poseval's frames of one video: each image of ``gt`` in file order, with its people and ignore regions."""
    gt_columns, pred_columns = _joint_columns(gt, where), _joint_columns(pred, f"{where} (predictions)")
    gt_anns, pred_anns = defaultdict(list), defaultdict(list)
    for ann in gt.get("annotations", []):
        gt_anns[ann["image_id"]].append(ann)
    for ann in pred.get("annotations", []):
        pred_anns[ann["image_id"]].append(ann)
    frames = []
    for image in gt.get("images", []):
        people = gt_anns[image["id"]]
        gt_xy, gt_has, _ = _people(people, gt_columns, False, where)
        pred_xy, pred_has, pred_scores = _people(pred_anns[image["id"]], pred_columns, True, where)
        regions = zip(image.get("ignore_regions_x", []), image.get("ignore_regions_y", []), strict=True)
        ignore = [np.stack([np.asarray(x, np.float64), np.asarray(y, np.float64)], axis=1) for x, y in regions]
        frames.append(Frame(gt_xy, gt_has, _head_boxes(people, where), pred_xy, pred_has, pred_scores, ignore))
    return frames


class PoseTrack18Metric(CocoMetric):
    """PoseTrack18 per-frame multi-person AP (MMPose's ``PoseTrack18Metric``, poseval's ``evaluateAP``).

    Metric names (prefix ``posetrack18``): ``Head AP``, ``Shou AP``, ``Elb AP``, ``Wri AP``, ``Hip AP``,
    ``Knee AP``, ``Ankl AP`` (joint-group means) and ``AP`` (mean over the joints), in percent.
    Results are PoseTrack18 keypoints (N, 17, 2) in original image pixels, as CocoMetric takes them.

    Args:
        ann_file: the COCO-format annotation file (``.../posetrack18_val.json``); its folder holds
            the per-video ground truth (``.../val/*.json``). Required.
        score_mode: instance rescoring, as CocoMetric's; default ``'bbox_keypoint'``.
        keypoint_score_thr: keypoint-score threshold of ``'bbox_keypoint'``; default 0.2.
        nms_mode: ``'oks_nms'``, ``'soft_oks_nms'`` or ``'none'``; default ``'oks_nms'``.
        nms_thr: OKS threshold of the NMS; default 0.9.
        format_only: only write the per-video results files (needs ``outfile_prefix``).
        outfile_prefix: the results files go to its folder; None: a temporary folder.
        prefix: metric-name prefix; default ``'posetrack18'``.
    """

    default_prefix = "posetrack18"
    # a one-person, one-frame ground truth shipped with the plugin (posekit plugins --check)
    example_config: ClassVar[dict[str, Any]] = {
        "ann_file": str(Path(__file__).parent / "example_data" / "posetrack18" / "posetrack18_val.json")
    }

    def __init__(
        self,
        ann_file: str | None = None,
        score_mode: ScoreMode = "bbox_keypoint",
        keypoint_score_thr: float = 0.2,
        nms_mode: NmsMode = "oks_nms",
        nms_thr: float = 0.9,
        format_only: bool = False,
        outfile_prefix: str | None = None,
        prefix: str | None = None,
    ) -> None:
        if ann_file is None:
            raise ConfigError(
                "PoseTrack18Metric needs ann_file: its ground truth is the folder of per-video files beside it "
                "(annotations/posetrack18_val.json -> annotations/val/)"
            )
        super().__init__(
            ann_file=ann_file,
            score_mode=score_mode,
            keypoint_score_thr=keypoint_score_thr,
            nms_mode=nms_mode,
            nms_thr=nms_thr,
            format_only=format_only,
            outfile_prefix=outfile_prefix,
            prefix=prefix,
            metainfo="posetrack18",
        )
        self.gt_folder = gt_folder(ann_file)
        self._videos = sorted(self.gt_folder.glob("*.json"))
        if not self._videos:
            raise ConfigError(
                f"PoseTrack18Metric: no per-video ground truth {self.gt_folder}/*.json for ann_file {ann_file} "
                "(PoseTrack18's annotations/val/ folder, found as MMPose finds it)"
            )

    def _video_results(self, video: dict[str, Any], by_image: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
        """One video's predictions as a PoseTrack18 file (MMPose's ``results2json``)."""
        images, annotations = [], []
        for image in video.get("images", []):
            images.append({"id": image["id"], "file_name": image["file_name"]})
            for track_id, result in enumerate(by_image.get(image["id"], [])):
                keypoints = result["keypoints"]
                annotations.append(
                    {
                        "image_id": result["image_id"],
                        "keypoints": keypoints,
                        "scores": keypoints[2::3],
                        "score": result["score"],
                        "track_id": track_id,
                    }
                )
        category = {"supercategory": "person", "id": 1, "name": "person"}
        category |= {"keypoints": list(load_definition("posetrack18").keypoint_names), "skeleton": SKELETON}
        return {"images": images, "categories": [category], "annotations": annotations}

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """Rescore, NMS, write one results file per video, evaluate: ``{'Head AP': ..., 'AP': ...}``."""
        _, sigmas, _ = self._checked_sigmas(records)
        by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for result in self._results(records, sigmas):
            by_image[result["image_id"]].append(result)
        frames: list[Frame] = []
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(self.outfile_prefix).parent if self.outfile_prefix is not None else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            for path in self._videos:
                video = read_json(path)
                predictions = self._video_results(video, by_image)
                (folder / path.name).write_text(json.dumps(predictions, sort_keys=True, indent=4))
                if not self.format_only:
                    frames += video_frames(video, predictions, f"PoseTrack18 ground truth {path}")
        if self.format_only:
            return {}
        if not any(len(frame.gt) for frame in frames):
            raise DataError(f"PoseTrack18Metric: no frame of {self.gt_folder}/*.json has an annotated person")
        return summarize(evaluate_ap(frames))
