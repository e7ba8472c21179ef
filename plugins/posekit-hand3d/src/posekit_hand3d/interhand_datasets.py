"""InterHand2.6M datasets: ``InterHand3DDataset`` (InterNet) and ``InterHand2DDoubleDataset`` (RTMW cocktails).

Files, as MMPose reads them: a COCO-style ``ann_file`` (images with ``capture``, ``camera``,
``frame_idx``; one annotation per image with ``bbox`` xywh, ``joint_valid`` (42,), ``hand_type``
``right``/``left``/``interacting``, ``hand_type_valid``), a ``camera_param_file``
(``{capture: {campos|camrot|focal|princpt: {camera: ...}}}``) and a ``joint_file``
(``{capture: {frame: {world_coord: (42, 3)}}}``). Keypoints 0-20 are the right hand (20 its
wrist, the root), 21-41 the left (41). Dimensions: K = 42.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from posekit.datasets._io import join_root, read_json
from posekit.datasets.base import BaseDataset
from posekit.errors import ConfigError, DataError
from posekit.structures import PoseSample

_HAND_TYPES = {"right": (1.0, 0.0), "left": (0.0, 1.0), "interacting": (1.0, 1.0)}
RIGHT_ROOT, LEFT_ROOT = 20, 41


def camera_to_pixel(points: np.ndarray, focal: np.ndarray, principal_pt: np.ndarray) -> np.ndarray:
    """Project camera-space ``(..., 3)`` points to pixels ``(..., 2)`` (depth shifted by 1e-8, as MMPose)."""
    xy = points[..., :2] / (points[..., 2:3] + 1e-8)
    return xy * focal + principal_pt


def pixel_to_camera(points: np.ndarray, focal: np.ndarray, principal_pt: np.ndarray) -> np.ndarray:
    """Back-project ``(..., 3)`` (x, y pixels, z depth) to camera space ``(..., 3)``."""
    out = points.copy()
    out[..., :2] = (points[..., :2] - principal_pt) / focal * points[..., 2:3]
    return out


def hand_type_labels(hand_type: str, where: str) -> np.ndarray:
    """``(1, 2)`` (right, left) labels of an annotation's ``hand_type``."""
    if hand_type not in _HAND_TYPES:
        raise DataError(f"{where}: hand_type must be one of {sorted(_HAND_TYPES)}, got {hand_type!r}")
    return np.array([_HAND_TYPES[hand_type]], dtype=np.float32)


class InterHand3DDataset(BaseDataset):
    """InterHand2.6M for 3D hand pose (MMPose's ``InterHand3DDataset``): one sample per image, first annotation.

    A sample's ``keypoints (1, 42, 3)`` hold x, y in image pixels and the depth relative to its
    hand's root (mm); ``keypoints_visible (1, 42)`` is ``joint_valid`` times its root's.
    ``sample.extra`` holds ``keypoints_cam (1, 42, 3)``, ``hand_type (1, 2)``, ``hand_type_valid (1,)``,
    ``rel_root_depth`` / ``rel_root_valid`` (left root depth minus right, mm), ``abs_depth (2,)``
    (the right and left roots' depth), ``focal (2,)`` and ``principal_pt (2,)``.

    Args:
        ann_file: the COCO-style annotation file, under ``data_root`` unless absolute.
        camera_param_file: the camera file, likewise.
        joint_file: the world-coordinate joint file, likewise.
        use_gt_root_depth: take boxes and root depths from the annotations; False: from
            ``rootnet_result_file`` (a list of ``{annot_id, bbox, abs_depth}``). Default True.
        rootnet_result_file: RootNet's results, needed when ``use_gt_root_depth`` is False.
        sample_interval: keep every ``sample_interval``-th image. Default 1.
        data_root: folder that the relative file paths are under.
        data_mode, metainfo, data_prefix, filter_cfg, indices, serialize_data, pipeline, test_mode,
        lazy_init, max_refetch, seed: as :class:`~posekit.datasets.base.BaseDataset`.
    """

    METAINFO: ClassVar[str] = "interhand3d"
    #: the keypoints' dimensions kept (x, y and root-relative depth)
    keypoint_dims: ClassVar[int] = 3

    def __init__(
        self,
        ann_file: str = "",
        camera_param_file: str = "",
        joint_file: str = "",
        use_gt_root_depth: bool = True,
        rootnet_result_file: str | None = None,
        sample_interval: int = 1,
        data_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        if not use_gt_root_depth and not rootnet_result_file:
            raise ConfigError(f"{name}: use_gt_root_depth=False needs rootnet_result_file")
        if sample_interval < 1:
            raise ConfigError(f"{name}: sample_interval must be >= 1, got {sample_interval}")
        self.camera_param_file = join_root(camera_param_file, data_root)
        self.joint_file = join_root(joint_file, data_root)
        self.use_gt_root_depth = use_gt_root_depth
        self.rootnet_result_file = join_root(rootnet_result_file, data_root) if rootnet_result_file else None
        self.sample_interval = sample_interval
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def load_data_list(self) -> list[PoseSample]:
        """One sample per image of ``ann_file`` (every ``sample_interval``-th), from its first annotation."""
        coco = read_json(self.ann_file)
        cameras = read_json(self.camera_param_file, "camera_param_file")
        joints = read_json(self.joint_file, "joint_file")
        rootnet = None
        if self.rootnet_result_file is not None:
            rootnet = {str(r["annot_id"]): r for r in read_json(self.rootnet_result_file, "rootnet_result_file")}
        first_ann: dict[Any, dict[str, Any]] = {}
        for ann in coco.get("annotations", []):
            first_ann.setdefault(ann["image_id"], ann)
        samples = []
        for idx, img in enumerate(coco.get("images", [])):
            if idx % self.sample_interval or img["id"] not in first_ann:
                continue
            ann = first_ann[img["id"]]
            where = f"{self.ann_file}: annotation {ann.get('id')} (image {img['id']})"
            try:
                samples.append(self.parse(ann, img, cameras, joints, rootnet, where))
            except (KeyError, IndexError, ValueError) as e:
                raise DataError(f"{where}: {type(e).__name__} {e} (camera or joint entry missing or malformed?)") from e
        return samples

    def parse(
        self,
        ann: Mapping[str, Any],
        img: Mapping[str, Any],
        cameras: Mapping[str, Any],
        joints: Mapping[str, Any],
        rootnet: Mapping[str, Any] | None,
        where: str,
    ) -> PoseSample:
        """One annotation as a :class:`PoseSample` (see the class docstring for its fields)."""
        cam = cameras[str(img["capture"])]
        name = img["camera"]
        campos, camrot = (np.array(cam[k][name], dtype=np.float32) for k in ("campos", "camrot"))
        focal, principal_pt = (np.array(cam[k][name], dtype=np.float32) for k in ("focal", "princpt"))
        world = np.array(joints[str(img["capture"])][str(img["frame_idx"])]["world_coord"], dtype=np.float32)
        valid = np.array(ann["joint_valid"], dtype=np.float32).flatten()
        k = self.metainfo.num_keypoints
        if world.shape != (k, 3) or valid.shape != (k,):
            raise DataError(
                f"{where}: expected world_coord ({k}, 3) and joint_valid ({k},), got {world.shape}, {valid.shape}"
            )
        cam_kpts = np.dot(camrot, world.T - campos.reshape(3, 1)).T
        if self.use_gt_root_depth:
            bbox = np.array(ann["bbox"], dtype=np.float32).reshape(1, 4)
            abs_depth = np.array([cam_kpts[RIGHT_ROOT, 2], cam_kpts[LEFT_ROOT, 2]], dtype=np.float32)
        else:
            result = rootnet[str(ann["id"])]  # type: ignore[index]
            bbox = np.array(result["bbox"], dtype=np.float32).reshape(1, 4)
            abs_depth = np.asarray(result["abs_depth"], dtype=np.float32)
        bbox[:, 2:] += bbox[:, :2]
        rel_root_valid = valid[RIGHT_ROOT] * valid[LEFT_ROOT]
        valid[:RIGHT_ROOT] *= valid[RIGHT_ROOT]
        valid[RIGHT_ROOT + 1 :] *= valid[LEFT_ROOT]
        keypoints = np.zeros((1, k, 3), dtype=np.float32)
        keypoints[0, :, :2] = camera_to_pixel(cam_kpts, focal, principal_pt)
        keypoints[0, : RIGHT_ROOT + 1, 2] = cam_kpts[: RIGHT_ROOT + 1, 2] - cam_kpts[RIGHT_ROOT, 2]
        keypoints[0, RIGHT_ROOT + 1 :, 2] = cam_kpts[RIGHT_ROOT + 1 :, 2] - cam_kpts[LEFT_ROOT, 2]
        extra: dict[str, Any] = {
            "hand_type": hand_type_labels(ann["hand_type"], where),
            "hand_type_valid": np.array([ann["hand_type_valid"]], dtype=np.float32),
        }
        if self.keypoint_dims == 3:
            extra.update(
                keypoints_cam=cam_kpts.reshape(1, k, 3),
                rel_root_depth=np.float32(cam_kpts[LEFT_ROOT, 2] - cam_kpts[RIGHT_ROOT, 2]),
                rel_root_valid=np.float32(rel_root_valid),
                abs_depth=abs_depth,
                focal=focal,
                principal_pt=principal_pt,
            )
        return PoseSample(
            img_id=int(ann["image_id"]),
            id=int(ann["id"]),
            img_path=os.path.join(self.data_prefix["img"], img["file_name"]),
            ori_shape=(int(img.get("height", 0)), int(img.get("width", 0))),
            bbox=bbox,
            bbox_score=np.ones(1, dtype=np.float32),
            keypoints=keypoints[..., : self.keypoint_dims].copy(),
            keypoints_visible=np.minimum(1, valid).reshape(1, -1),
            iscrowd=np.array([int(ann.get("iscrowd", 0))]),
            num_keypoints=np.array([k]),
            extra=extra,
        )


class InterHand2DDoubleDataset(InterHand3DDataset):
    """InterHand2.6M as a 2D dataset of both hands (MMPose's ``InterHand2DDoubleDataset``, RTMW's cocktails).

    As :class:`InterHand3DDataset`, but ``keypoints (1, 42, 2)`` in image pixels, and ``sample.extra``
    holds only ``hand_type (1, 2)`` and ``hand_type_valid (1,)``.
    """

    keypoint_dims: ClassVar[int] = 2
