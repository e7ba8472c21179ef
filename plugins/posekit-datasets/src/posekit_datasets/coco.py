"""Any COCO-format keypoint file: COCO, CrowdPose, AP-10K, OneHand10K, WFLW, PoseTrack18, ...

As MMPose's ``BaseCocoStyleDataset`` (1.3): images in file order, each image's annotations
in file order; boxes ``[x, y, w, h]`` become ``xyxy`` clipped to ``[0, w - 1] x [0, h - 1]``;
keypoints ``[x, y, v] * K`` become ``keypoints (1, K, 2)`` and ``keypoints_visible = min(1, v)``.
Top-down mode keeps one sample per valid instance (not crowd, with labelled keypoints and
a box of positive size); bottom-up mode keeps one sample per image with all its instances
and the segmentations of the invalid ones in ``invalid_segs``. With a ``bbox_file`` (test
mode), the samples are the detections of category 1 instead, with dummy keypoints.

Pick the keypoint definition with ``metainfo``: ``coco`` (default), ``crowdpose``,
``ap10k``, ``onehand10k``, ``wflw`` (with ``bbox_from='center_scale'`` as MMPose's WFLW
dataset), ``posetrack18``, or your own YAML file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np

from posekit.datasets._io import check_file, read_json
from posekit.datasets.base import BAD_BOX, BaseDataset
from posekit.errors import ConfigError, DataError
from posekit.structures import PoseSample
from posekit_datasets.values import PIXEL_STD, number_array


def _empty_image_sample(img_id: int, img_path: str, ori_shape: tuple[int, int], num_keypoints: int) -> PoseSample:
    """A bottom-up test sample of an image with no annotated instance (N = 0)."""
    return PoseSample(
        img_id=img_id,
        img_path=img_path,
        ori_shape=ori_shape,
        keypoints=np.zeros((0, num_keypoints, 2), np.float32),
        keypoints_visible=np.zeros((0, num_keypoints), np.float32),
        extra={"ids": [], "category_ids": []},
    )


class CocoDataset(BaseDataset):
    """A COCO-format keypoint dataset (MMPose's ``BaseCocoStyleDataset`` arguments).

    Samples carry ``img_path`` (not the image), ``ori_shape`` (h, w) from the file, ``bbox``
    (N, 4) xyxy, ``bbox_score`` (N,), ``keypoints`` (N, K, 2) and ``keypoints_visible``
    (N, K) in image pixels, ``area``, ``iscrowd``, ``num_keypoints`` (N,), ``crowd_index``
    (CrowdPose) and, in ``extra``, ``segmentation`` and ``raw_ann_info`` (the annotation).

    Args:
        ann_file: the COCO-format json, under ``data_root`` unless absolute.
        bbox_file: detection results (COCO results json: ``image_id``, ``category_id``,
            ``bbox`` xywh, ``score``) used instead of the annotations' boxes; top-down
            test mode only; a relative path is taken as is (as MMPose).
        data_mode: ``topdown`` (one sample per instance) or ``bottomup`` (one per image).
        test_mode: evaluation mode (required by ``bbox_file``; bottom-up keeps empty images).
        sample_interval: keep only images whose id is a multiple of this (MMPose's subsampling).
        bbox_from: ``bbox`` (the annotation's box) or ``center_scale`` (the annotation's
            ``center`` and ``scale * 200`` square, as MMPose's face datasets, e.g. WFLW); None: the
            class's ``BBOX_FROM`` (``bbox``).
        metainfo, data_root, data_prefix, filter_cfg, indices, serialize_data, pipeline, lazy_init,
        max_refetch, seed: as :class:`~posekit.datasets.BaseDataset` (``metainfo`` default ``coco``;
        ``filter_cfg={"bbox_score_thr": t}`` drops detection boxes scored below ``t``).
    """

    METAINFO: ClassVar[str] = "coco"
    #: where boxes come from when ``bbox_from`` is None
    BBOX_FROM: ClassVar[Literal["bbox", "center_scale"]] = "bbox"
    #: annotation fields whose [x, y, v] triplets make the keypoints, concatenated in this order
    KEYPOINT_FIELDS: ClassVar[tuple[str, ...]] = ("keypoints",)

    def __init__(
        self,
        ann_file: str = "",
        bbox_file: str | None = None,
        data_mode: Literal["topdown", "bottomup"] = "topdown",
        test_mode: bool = False,
        sample_interval: int = 1,
        bbox_from: Literal["bbox", "center_scale"] | None = None,
        **kwargs: Any,
    ) -> None:
        if bbox_file and data_mode != "topdown":
            raise ConfigError(f"{type(self).__name__}: bbox_file needs data_mode='topdown', got {data_mode!r}")
        if bbox_file and not test_mode:
            raise ConfigError(f"{type(self).__name__}: bbox_file is for evaluation only; set test_mode=True")
        if sample_interval < 1:
            raise ConfigError(f"{type(self).__name__}: sample_interval must be >= 1, got {sample_interval}")
        self.bbox_file = bbox_file
        self.sample_interval = sample_interval
        self.bbox_from = bbox_from or self.BBOX_FROM
        super().__init__(ann_file=ann_file, data_mode=data_mode, test_mode=test_mode, **kwargs)

    # ---- reading the file ----

    def _read_images(self, data: Any) -> dict[int, dict[str, Any]]:
        """``{image id: image entry}`` in file order, each entry checked."""
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise DataError(
                f"annotation file {self.ann_file}: a COCO keypoint file is an object with 'images', "
                f"'annotations' and 'categories' lists; got {keys}"
            )
        images: dict[int, dict[str, Any]] = {}
        for i, img in enumerate(data["images"]):
            missing = [k for k in ("id", "file_name", "width", "height") if not isinstance(img, dict) or k not in img]
            if missing:
                raise DataError(f"annotation file {self.ann_file}: images[{i}] lacks {', '.join(missing)}")
            if not isinstance(img["id"], int):
                raise DataError(f"annotation file {self.ann_file}: images[{i}] has a non-integer id {img['id']!r}")
            if img["id"] in images:
                raise DataError(f"annotation file {self.ann_file}: image id {img['id']} appears twice")
            images[img["id"]] = img
        return images

    def _group_annotations(self, data: dict[str, Any], images: Mapping[int, Any]) -> dict[int, list[dict[str, Any]]]:
        """Annotations by image id, in file order; those of unknown images are skipped with a warning."""
        anns = data.get("annotations", [])
        if not isinstance(anns, list):
            raise DataError(f"annotation file {self.ann_file}: 'annotations' must be a list")
        by_image: dict[int, list[dict[str, Any]]] = {img_id: [] for img_id in images}
        orphans: list[int] = []
        for i, ann in enumerate(anns):
            if not isinstance(ann, dict) or not isinstance(ann.get("id"), int) or "image_id" not in ann:
                raise DataError(
                    f"annotation file {self.ann_file}: annotations[{i}] needs an integer 'id' and 'image_id'"
                )
            if ann["image_id"] in by_image:
                by_image[ann["image_id"]].append(ann)
            else:
                orphans.append(ann["id"])
        if orphans:
            self.warn_skipped("an image_id that is not among the file's images", orphans)
        return by_image

    def _img_path(self, img: Mapping[str, Any]) -> str:
        return os.path.join(self.data_prefix["img"], img["file_name"])

    def parse_data_info(self, ann: dict[str, Any], img: dict[str, Any]) -> PoseSample | None:
        """One instance as a one-instance sample; None for an annotation without box or keypoints.

        Raises:
            DataError: a keypoint count that differs from the definition's, non-numeric or
                non-finite values; the message names the file, the annotation and image ids.
        """
        if any(f not in ann for f in (*self.KEYPOINT_FIELDS, "bbox" if self.bbox_from == "bbox" else "center")):
            return None
        where = f"annotation file {self.ann_file}: annotation id {ann['id']} (image id {ann['image_id']})"
        num = self.metainfo.num_keypoints
        parts = [number_array(ann[field] or (), field, where).reshape(-1) for field in self.KEYPOINT_FIELDS]
        values = np.concatenate(parts)
        if values.size != 3 * num:
            raise DataError(
                f"{where}: {values.size} keypoint values (expected {num} keypoints x 3 = {3 * num} for the "
                f"keypoint definition {self.metainfo.dataset_name!r}; fields {', '.join(self.KEYPOINT_FIELDS)})"
            )
        triplets = values.reshape(1, num, 3)
        keypoints = triplets[..., :2].copy()
        visible = self.keypoint_visibility(triplets[..., 2])

        img_h, img_w = int(img["height"]), int(img["width"])
        center = scale = np.zeros((0, 2), np.float32)
        if self.bbox_from == "center_scale":
            if "scale" not in ann:
                raise DataError(f"{where}: bbox_from='center_scale' needs 'center' and 'scale'")
            center = number_array(ann["center"], "center", where).reshape(1, 2)
            scale = np.repeat(number_array(ann["scale"], "scale", where).reshape(1, 1), 2, axis=1) * PIXEL_STD
            corner = center - 0.5 * scale  # MMPose's bbox_cs2xyxy (same float rounding)
            bbox = np.concatenate([corner, corner + scale], axis=1)
        else:
            box = number_array(ann["bbox"], "bbox", where)
            if box.shape != (4,):
                raise DataError(f"{where}: bbox must be [x, y, w, h], got {ann['bbox']!r:.80}")
            x, y, w, h = (float(v) for v in ann["bbox"])
            right, bottom = img_w - 1, img_h - 1  # MMPose clips in float64, then stores float32
            corners = [
                min(max(x, 0), right),
                min(max(y, 0), bottom),
                min(max(x + w, 0), right),
                min(max(y + h, 0), bottom),
            ]
            bbox = np.array(corners, dtype=np.float32).reshape(1, 4)
        x1, y1, x2, y2 = bbox[0]
        area = ann["area"] if "area" in ann else max(float((x2 - x1) * (y2 - y1)) * 0.53, 1.0)
        if "num_keypoints" in ann:
            num_labelled = int(ann["num_keypoints"])
        else:
            num_labelled = int(np.count_nonzero(keypoints.max(axis=2)))
        return PoseSample(
            img_id=int(ann["image_id"]),
            id=int(ann["id"]),
            img_path=self._img_path(img),
            ori_shape=(img_h, img_w),
            category_id=int(ann.get("category_id", 1)),
            bbox=bbox,
            bbox_score=np.ones(1, np.float32),
            bbox_center=center,
            bbox_scale=scale,
            keypoints=keypoints,
            keypoints_visible=visible,
            area=np.array([area], np.float32),
            iscrowd=np.array([int(ann.get("iscrowd", 0))], np.int64),
            num_keypoints=np.array([num_labelled], np.int64),
            crowd_index=img.get("crowdIndex"),
            extra={"segmentation": ann.get("segmentation"), "raw_ann_info": ann},
        )

    def keypoint_visibility(self, v: np.ndarray) -> np.ndarray:
        """(1, K) visibility in [0, 1] from the annotation's v flags (COCO: ``min(1, v)``)."""
        return np.minimum(1, v).astype(np.float32)

    def load_data_list(self) -> list[PoseSample]:
        data = read_json(self.ann_file)
        images = self._read_images(data)
        if self.bbox_file:
            return self._load_detections(images)
        anns = self._group_annotations(data, images)
        instances: list[PoseSample] = []
        blanks: list[PoseSample] = []
        for img_id, img in images.items():
            if int(img_id) % self.sample_interval != 0:
                continue
            blanks.append(
                _empty_image_sample(
                    int(img_id),
                    self._img_path(img),
                    (int(img["height"]), int(img["width"])),
                    self.metainfo.num_keypoints,
                )
            )
            instances.extend(s for s in (self.parse_data_info(a, img) for a in anns[img_id]) if s is not None)
        if self.data_mode == "topdown":
            return self.to_topdown(instances)
        return self.to_bottomup(instances, blanks)

    def _load_detections(self, images: Mapping[int, dict[str, Any]]) -> list[PoseSample]:
        """Detection boxes of category 1 as samples with dummy keypoints (zeros, all visible)."""
        path = check_file(self.bbox_file or "", "detection results file")
        dets = read_json(path, "detection results file")
        if not isinstance(dets, list):
            raise DataError(f"detection results file {path}: expected a list of detections, got {type(dets).__name__}")
        num = self.metainfo.num_keypoints
        samples: list[PoseSample] = []
        bad_boxes: list[int] = []
        for i, det in enumerate(dets):
            where = f"detection results file {path}: detection {i}"
            if not isinstance(det, dict) or any(k not in det for k in ("image_id", "bbox", "score")):
                raise DataError(f"{where} needs 'image_id', 'bbox' and 'score'")
            if det.get("category_id", 1) != 1:
                continue
            img = images.get(det["image_id"])
            if img is None:
                raise DataError(f"{where}: image id {det['image_id']} is not in annotation file {self.ann_file}")
            box = number_array(det["bbox"], "bbox", f"{where} (image id {det['image_id']})")
            score = number_array(det["score"], "score", f"{where} (image id {det['image_id']})")
            if box.ndim != 1 or box.size < 4:
                raise DataError(f"{where} (image id {det['image_id']}): bbox must be [x, y, w, h]")
            if box[2] <= 0 or box[3] <= 0:
                bad_boxes.append(i)
                continue
            samples.append(
                PoseSample(
                    img_id=int(det["image_id"]),
                    id=len(samples),
                    img_path=self._img_path(img),
                    ori_shape=(int(img["height"]), int(img["width"])),
                    bbox=np.concatenate([box[:2], box[:2] + box[2:4]]).reshape(1, 4),
                    bbox_score=score.reshape(1),
                    keypoints=np.zeros((1, num, 2), np.float32),
                    keypoints_visible=np.ones((1, num), np.float32),
                )
            )
        if bad_boxes:
            self.warn_skipped(BAD_BOX, bad_boxes, what="detection", source=str(path))
        return samples


class CocoWholeBodyDataset(CocoDataset):
    """COCO-WholeBody: body, foot, face, left- and right-hand keypoints concatenated (K = 133).

    As MMPose's ``CocoWholeBodyDataset``: ``keypoints + foot_kpts + face_kpts +
    lefthand_kpts + righthand_kpts`` and visibility ``v > 0``. Arguments as :class:`CocoDataset`.
    """

    METAINFO: ClassVar[str] = "coco_wholebody"
    KEYPOINT_FIELDS: ClassVar[tuple[str, ...]] = (
        "keypoints",
        "foot_kpts",
        "face_kpts",
        "lefthand_kpts",
        "righthand_kpts",
    )

    def keypoint_visibility(self, v: np.ndarray) -> np.ndarray:
        return (v > 0).astype(np.float32)
