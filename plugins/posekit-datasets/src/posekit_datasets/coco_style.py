"""MMPose's COCO-format dataset types, by MMPose's class names, each with its keypoint definition.

Most of MMPose's datasets are its ``BaseCocoStyleDataset`` with another ``METAINFO``: here they
are the core's :class:`~posekit.datasets.CocoDataset` with the definition's registered name as
default (:data:`DEFINITIONS`). The few that read the file differently say how below:

- ``bbox_from='center_scale'`` (300W, 300VW, AFLW, WFLW): the box is ``center`` +- ``scale * 100``;
- a fixed box over the whole image (Locust and Zebra 160 x 160, FreiHAND 224 x 224);
- other keypoint fields (HumanArt21's ``keypoints_21``; COCO-WholeBody's face and hands);
- JHMDB's 1-based keypoints (``x - 1, y - 1``).

Pass ``metainfo`` to use another definition (a registered name, a YAML/JSON file, or MMPose's
``dict(from_file='configs/_base_/datasets/aic.py')``, resolved by name).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np

from posekit.datasets._io import read_json
from posekit.datasets.base import MetainfoArg
from posekit.errors import ConfigError, DataError
from posekit.structures import PoseSample
from posekit_datasets.coco import CocoDataset, CocoWholeBodyDataset
from posekit_datasets.values import number_array

#: MMPose dataset type -> the registered name of its keypoint definition (plain COCO-format readers)
DEFINITIONS: dict[str, str] = {
    "AicDataset": "aic",
    "CrowdPoseDataset": "crowdpose",
    "ExlposeDataset": "exlpose",
    "HumanArtDataset": "humanart",
    "MhpDataset": "mhp",
    "OCHumanDataset": "ochuman",
    "PoseTrack18Dataset": "posetrack18",
    "HalpeDataset": "halpe",
    "AnimalKingdomDataset": "ak",
    "AnimalPoseDataset": "animalpose",
    "AP10KDataset": "ap10k",
    "ATRWDataset": "atrw",
    "FlyDataset": "fly",
    "Horse10Dataset": "horse10",
    "MacaqueDataset": "macaque",
    "COFWDataset": "cofw",
    "Face300WLPDataset": "300wlp",
    "LapaDataset": "lapa",
    "DeepFashion2Dataset": "deepfashion2",
    "OneHand10KDataset": "onehand10k",
    "Rhd2DDataset": "rhd2d",
}

#: center/scale face datasets: MMPose type -> definition name
CENTER_SCALE_DEFINITIONS: dict[str, str] = {
    "Face300WDataset": "300w",
    "Face300VWDataset": "300vw",
    "WFLWDataset": "wflw",
}


def _define(name: str, base: type, metainfo: str, **attrs: Any) -> type:
    """A subclass ``name`` of ``base`` whose default keypoint definition is ``metainfo``."""
    doc = f"MMPose's ``{name}``: {base.__name__} with the ``{metainfo}`` keypoint definition by default."
    return type(name, (base,), {"METAINFO": metainfo, "__doc__": doc, "__module__": __name__, **attrs})


class CenterScaleDataset(CocoDataset):
    """A COCO-format face dataset whose boxes come from ``center`` and ``scale`` (as MMPose's 300W, WFLW).

    Arguments as :class:`~posekit.datasets.CocoDataset`, with ``bbox_from='center_scale'`` by default.
    """

    BBOX_FROM: ClassVar[Literal["bbox", "center_scale"]] = "center_scale"


class AFLWDataset(CenterScaleDataset):
    """MMPose's ``AFLWDataset``: center/scale boxes; ``extra['box_size']`` (1,) for NME's ``box_size`` norm."""

    METAINFO: ClassVar[str] = "aflw"

    def parse_data_info(self, ann: dict[str, Any], img: dict[str, Any]) -> PoseSample | None:
        sample = super().parse_data_info(ann, img)
        if sample is not None and "box_size" in ann:
            where = f"annotation file {self.ann_file}: annotation id {ann['id']}"
            sample.extra["box_size"] = number_array(ann["box_size"], "box_size", where).reshape(1)
        return sample


class WholeImageDataset(CocoDataset):
    """A COCO-format dataset whose box is the whole (fixed-size) image, as MMPose's Locust, Zebra, FreiHAND.

    ``IMAGE_SIZE`` is the box's side in pixels (MMPose writes ``[0, 0, side, side]`` as xyxy).
    """

    IMAGE_SIZE: ClassVar[int] = 160

    def parse_data_info(self, ann: dict[str, Any], img: dict[str, Any]) -> PoseSample | None:
        sample = super().parse_data_info({"bbox": [0, 0, 1, 1], **ann}, img)
        if sample is not None:
            sample.bbox = np.array([[0, 0, self.IMAGE_SIZE, self.IMAGE_SIZE]], np.float32)
        return sample


class PanopticHand2DDataset(CocoDataset):
    """MMPose's ``PanopticHand2DDataset`` (K = 21): ``extra['head_size']`` (1,) for PCKh, keypoints counted."""

    METAINFO: ClassVar[str] = "panoptic_hand2d"

    def parse_data_info(self, ann: dict[str, Any], img: dict[str, Any]) -> PoseSample | None:
        sample = super().parse_data_info({k: v for k, v in ann.items() if k not in ("num_keypoints", "area")}, img)
        if sample is not None:
            where = f"annotation file {self.ann_file}: annotation id {ann['id']}"
            sample.extra["head_size"] = number_array(ann.get("head_size"), "head_size", where).reshape(1)
        return sample


class JhmdbDataset(CocoDataset):
    """MMPose's ``JhmdbDataset`` (K = 15): JHMDB's keypoints and boxes are 1-based, so ``x - 1, y - 1``.

    As MMPose, the area is always ``0.53 * w * h`` of the clipped box and ``num_keypoints`` counts the
    keypoints whose shifted x or y is non-zero.
    """

    METAINFO: ClassVar[str] = "jhmdb"

    def parse_data_info(self, ann: dict[str, Any], img: dict[str, Any]) -> PoseSample | None:
        shifted = {k: v for k, v in ann.items() if k not in ("area", "num_keypoints")}
        if isinstance(ann.get("bbox"), list) and len(ann["bbox"]) == 4:
            x, y, w, h = ann["bbox"]
            shifted["bbox"] = [x - 1, y - 1, w, h]
        sample = super().parse_data_info(shifted, img)
        if sample is not None:
            sample.keypoints = sample.keypoints - 1
            sample.num_keypoints = np.array([np.count_nonzero(sample.keypoints.max(axis=2))], np.int64)
        return sample


class CocoWholeBodyFaceDataset(CocoDataset):
    """MMPose's ``CocoWholeBodyFaceDataset``: the 68 face keypoints (``face_kpts``, ``face_box``).

    Annotations whose ``face_valid`` is false or whose face keypoints are all zero are skipped.
    """

    METAINFO: ClassVar[str] = "coco_wholebody_face"
    KEYPOINT_FIELDS: ClassVar[tuple[str, ...]] = ("face_kpts",)

    def parse_data_info(self, ann: dict[str, Any], img: dict[str, Any]) -> PoseSample | None:
        if not ann.get("face_valid") or max(ann.get("face_kpts") or [0]) <= 0:
            return None
        face = {k: v for k, v in ann.items() if k not in ("num_keypoints", "area")}  # those count the body
        return super().parse_data_info({**face, "bbox": ann["face_box"]}, img)


class CocoWholeBodyHandDataset(CocoDataset):
    """MMPose's ``CocoWholeBodyHandDataset``: each valid left and right hand (21 keypoints) is an instance.

    As MMPose: the hand boxes (``lefthand_box``/``righthand_box``, xywh) are not clipped, the
    instances are numbered 0, 1, ... in file order (their ``id``), crowd annotations are skipped.
    """

    METAINFO: ClassVar[str] = "coco_wholebody_hand"

    def parse_data_info(self, ann: dict[str, Any], img: dict[str, Any]) -> PoseSample | None:
        raise NotImplementedError("CocoWholeBodyHandDataset reads two hands per annotation: see load_data_list")

    def load_data_list(self) -> list[PoseSample]:
        if self.bbox_file:
            return super().load_data_list()
        data = read_json(self.ann_file)
        images = self._read_images(data)
        anns = self._group_annotations(data, images)
        instances: list[PoseSample] = []
        for img_id, img in images.items():
            for ann in anns[img_id]:
                if ann.get("iscrowd", 0):
                    continue
                for side in ("left", "right"):
                    sample = self._hand(ann, img, side, len(instances))
                    if sample is not None:
                        instances.append(sample)
        if self.data_mode == "topdown":
            return self.to_topdown(instances)
        return self.to_bottomup(instances, [])

    def _hand(self, ann: dict[str, Any], img: dict[str, Any], side: str, index: int) -> PoseSample | None:
        kpts = ann.get(f"{side}hand_kpts") or [0]
        if not ann.get(f"{side}hand_valid") or max(kpts) <= 0:
            return None
        where = f"annotation file {self.ann_file}: annotation id {ann['id']} ({side} hand)"
        triplets = number_array(kpts, f"{side}hand_kpts", where).reshape(1, -1, 3)
        box = number_array(ann[f"{side}hand_box"], f"{side}hand_box", where).reshape(1, 4)
        keypoints = triplets[..., :2].copy()
        return PoseSample(
            img_id=int(ann["image_id"]),
            id=index,
            img_path=self._img_path(img),
            ori_shape=(int(img["height"]), int(img["width"])),
            bbox=np.concatenate([box[:, :2], box[:, :2] + box[:, 2:]], axis=1),
            bbox_score=np.ones(1, np.float32),
            keypoints=keypoints,
            keypoints_visible=np.minimum(1, triplets[..., 2]).astype(np.float32),
            area=np.array([box[0, 2] * box[0, 3]], np.float32),
            iscrowd=np.zeros(1, np.int64),
            num_keypoints=np.array([np.count_nonzero(keypoints.max(axis=2))], np.int64),
            extra={"segmentation": ann.get("segmentation"), "raw_ann_info": ann},
        )


class HalpeHandDataset(CocoWholeBodyHandDataset):
    """The hands of Halpe's 136 keypoints (94-114 left, 115-135 right) as COCO-WholeBody hand instances (K = 21).

    MMPose 1.3.2 registers no ``HalpeHandDataset``; its hand5 RTMPose config names the one of the
    RTMPose author's fork (github.com/Tau-J/mmpose): each hand with a non-zero value is an instance,
    numbered 0, 1, ... in file order, crowd annotations skipped, as :class:`CocoWholeBodyHandDataset`.
    The fork boxes a hand by the extent of its 63 raw values (which fails on a flat list); here the
    box is the extent of the hand's labelled keypoints (those not ``0, 0, 0``).
    """

    HANDS: ClassVar[dict[str, slice]] = {"left": slice(94 * 3, 115 * 3), "right": slice(115 * 3, 136 * 3)}

    def _hand(self, ann: dict[str, Any], img: dict[str, Any], side: str, index: int) -> PoseSample | None:
        values = ann.get("keypoints") or []
        if len(values) != 136 * 3:
            raise DataError(
                f"annotation file {self.ann_file}: annotation id {ann.get('id')} has {len(values)} keypoint "
                "values; Halpe's 136 keypoints take 408"
            )
        kpts = list(values[self.HANDS[side]])
        triplets = np.asarray(kpts, np.float64).reshape(-1, 3)
        labelled = triplets[np.any(triplets != 0, axis=1), :2]
        (x1, y1), (x2, y2) = (labelled.min(0), labelled.max(0)) if len(labelled) else ((0, 0), (0, 0))
        box = [x1, y1, x2 - x1, y2 - y1]
        hand = {f"{side}hand_kpts": kpts, f"{side}hand_valid": max(kpts) > 0, f"{side}hand_box": box}
        return super()._hand({**ann, **hand}, img, side, index)


class DeepFashionDataset(CocoDataset):
    """MMPose's ``DeepFashionDataset``: ``subset`` picks the definition (``full``, ``upper``, ``lower``).

    Args:
        subset: ``''``/``'full'`` (8 keypoints), ``'upper'`` (6) or ``'lower'`` (4).
        (others): as :class:`~posekit.datasets.CocoDataset`.
    """

    SUBSETS: ClassVar[dict[str, str]] = {
        "": "deepfashion_full",
        "full": "deepfashion_full",
        "upper": "deepfashion_upper",
        "lower": "deepfashion_lower",
    }

    @classmethod
    def default_metainfo(cls, config: Mapping[str, Any]) -> str:
        """The definition of ``config``'s ``subset`` (``deepfashion_full`` when it names none or an unknown one)."""
        return cls.SUBSETS.get(str(config.get("subset", "")), cls.SUBSETS[""])

    def __init__(
        self,
        ann_file: str = "",
        subset: Literal["", "full", "upper", "lower"] = "",
        metainfo: MetainfoArg = None,
        **kwargs: Any,
    ) -> None:
        if subset not in self.SUBSETS:
            raise ConfigError(f"DeepFashionDataset: subset must be one of 'full', 'upper', 'lower', got {subset!r}")
        self.subset = subset
        metainfo = metainfo if metainfo is not None else self.SUBSETS[subset]
        super().__init__(ann_file=ann_file, metainfo=metainfo, **kwargs)


def _register_table() -> None:
    module = sys.modules[__name__]
    for name, metainfo in DEFINITIONS.items():
        setattr(module, name, _define(name, CocoDataset, metainfo))
    for name, metainfo in CENTER_SCALE_DEFINITIONS.items():
        setattr(module, name, _define(name, CenterScaleDataset, metainfo))
    for name, metainfo, side in (("LocustDataset", "locust", 160), ("ZebraDataset", "zebra", 160)):
        setattr(module, name, _define(name, WholeImageDataset, metainfo, IMAGE_SIZE=side))
    module.FreiHandDataset = _define("FreiHandDataset", WholeImageDataset, "freihand2d", IMAGE_SIZE=224)
    module.HumanArt21Dataset = _define(
        "HumanArt21Dataset", CocoDataset, "humanart21", KEYPOINT_FIELDS=("keypoints_21",)
    )
    module.UBody2dDataset = _define("UBody2dDataset", CocoWholeBodyDataset, "ubody2d")


_register_table()
