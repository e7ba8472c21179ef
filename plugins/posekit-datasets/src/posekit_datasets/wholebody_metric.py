"""CocoWholeBodyMetric: COCO-WholeBody AP/AR of the whole body and of each part, as MMPose reports them.

MMPose (through xtcocotools) evaluates the 133 keypoints six times, each with its own slice of
the OKS sigmas: body (17), foot (6), face (68), left hand (21), right hand (21) and the whole
body; for each part the ground-truth people without a labelled keypoint of that part are
ignored and the predictions without a positive score in it dropped. Here every evaluation is
pycocotools' under the core's protocol (:mod:`posekit_datasets.cocoeval`), on the part's slice.

Metric names: the whole body's ``coco-wholebody/AP``, ``coco-wholebody/AP .5``, ... (MMPose's
returned values) and each part's ``coco-wholebody/body/AP``, ... (what MMPose prints).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from posekit.datasets._io import read_json
from posekit.errors import ConfigError, DataError
from posekit_datasets.coco_metric import CocoMetric
from posekit_datasets.cocoeval import coco_from_dict, evaluate_keypoints

if TYPE_CHECKING:
    from pycocotools.coco import COCO

#: the annotation fields of COCO-WholeBody, in keypoint order, with their part names and sizes
PARTS: tuple[tuple[str, str, int], ...] = (
    ("body", "keypoints", 17),
    ("foot", "foot_kpts", 6),
    ("face", "face_kpts", 68),
    ("lefthand", "lefthand_kpts", 21),
    ("righthand", "righthand_kpts", 21),
)


def _part_slices() -> dict[str, slice]:
    ends = np.cumsum([0] + [size for _, _, size in PARTS])
    return {name: slice(int(a), int(b)) for (name, _, _), a, b in zip(PARTS, ends[:-1], ends[1:], strict=True)}


class CocoWholeBodyMetric(CocoMetric):
    """COCO-WholeBody keypoint AP/AR (K = 133): whole body and body/foot/face/left hand/right hand.

    Arguments as :class:`~posekit_datasets.coco_metric.CocoMetric`; ``ann_file`` is a
    COCO-WholeBody annotation file (``keypoints``, ``foot_kpts``, ``face_kpts``,
    ``lefthand_kpts``, ``righthand_kpts`` per person), or None to build the ground truth from
    the samples' 133 keypoints. The default prefix is ``coco-wholebody``.
    """

    default_prefix = "coco-wholebody"
    PART_SLICES: ClassVar[dict[str, slice]] = _part_slices()

    def _ground_truth_file(self) -> COCO | None:
        """The annotation file with each person's five keypoint fields concatenated into ``keypoints``."""
        if self.ann_file is None or self._coco is not None:
            return self._coco
        dataset = read_json(self.ann_file)
        annotations = []
        for ann in dataset.get("annotations", []):
            missing = [field for _, field, _ in PARTS if field not in ann]
            if missing:
                raise DataError(
                    f"CocoWholeBodyMetric: annotation file {self.ann_file}: annotation id {ann.get('id')} has no "
                    f"{', '.join(missing)}; a COCO-WholeBody file has all of "
                    f"{', '.join(f for _, f, _ in PARTS)}"
                )
            annotations.append({**ann, "keypoints": [v for _, field, _ in PARTS for v in ann[field]]})
        self._coco = coco_from_dict({**dataset, "annotations": annotations})
        return self._coco

    def _results(self, records: list[dict[str, Any]], sigmas: np.ndarray) -> list[dict[str, Any]]:
        """CocoMetric's results, each with ``bbox`` the extent of its body keypoints.

        MMPose's results file holds the body in ``keypoints`` (the parts in their own fields), so
        the area a prediction is ranged by (AP (M), AP (L)) is that of its body keypoints, for
        every part and the whole body alike.
        """
        results = super()._results(records, sigmas)
        body = 3 * self.PART_SLICES["body"].stop
        for entry in results:
            x, y = entry["keypoints"][0:body:3], entry["keypoints"][1:body:3]
            entry["bbox"] = [min(x), min(y), max(x) - min(x), max(y) - min(y)]
        return results

    def compute_metrics(self, records: list[dict[str, Any]]) -> dict[str, float]:
        """The whole body's stats (as ``CocoMetric``), then each part's under ``<part>/``."""
        metrics = super().compute_metrics(records)
        if self.format_only:
            return metrics
        sigmas, _ = self._sigmas(num_keypoints=records[0]["keypoints"].shape[1])
        if sigmas is None or len(sigmas) != sum(size for _, _, size in PARTS):
            raise ConfigError(
                f"CocoWholeBodyMetric: the keypoint definition has {0 if sigmas is None else len(sigmas)} sigmas; "
                "COCO-WholeBody has 133 keypoints (17 body, 6 foot, 68 face, 21 + 21 hands)"
            )
        results = self._results(records, sigmas)
        coco = self._ground_truth(records)
        for part, cut in self.PART_SLICES.items():
            part_gt = coco_from_dict(
                {
                    **coco.dataset,
                    "annotations": [
                        {**a, "keypoints": a["keypoints"][3 * cut.start : 3 * cut.stop]}
                        for a in coco.dataset["annotations"]
                    ],
                }
            )
            part_results = [{**r, "keypoints": r["keypoints"][3 * cut.start : 3 * cut.stop]} for r in results]
            for name, value in evaluate_keypoints(
                part_gt, part_results, sigmas[cut], iou_type="keypoints", use_area=self.use_area
            ).items():
                metrics[f"{part}/{name}"] = value
        return metrics
