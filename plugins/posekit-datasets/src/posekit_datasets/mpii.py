"""MPII Human Pose in MMPose's json layout (a list of ``image``, ``center``, ``scale``, ``joints``, ``joints_vis``).

As MMPose's ``MpiiDataset`` (1.3): the box is the square of side ``scale * 200`` around
``center``, the center moved down by ``15 * scale`` pixels (to keep the limbs) and both made
0-based (MPII is 1-based): ``bbox_center``/``bbox_scale`` (1, 2) and ``bbox`` (1, 4) xyxy.
With a ``headbox_file`` (MPII's ``mpii_gt_val.mat``, test mode), each sample gets
``extra["head_size"]`` (1, 1) float64: 0.6 times the head box diagonal, the PCKh normalizer. The
json alone carries no head box, so PCKh needs that file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from posekit.datasets._io import check_file, join_root, read_json
from posekit.datasets.base import BaseDataset
from posekit.errors import ConfigError, DataError
from posekit.structures import PoseSample
from posekit_datasets.values import PIXEL_STD, number_array

#: MMPose's head-size factor for PCKh (``SC_BIAS``)
SC_BIAS = 0.6


def load_head_sizes(path: str | os.PathLike[str], count: int) -> np.ndarray:
    """(count,) PCKh head sizes from MPII's ``.mat`` head boxes (``headboxes_src``, 2 x 2 x count)."""
    from scipy.io import loadmat

    path = check_file(path, "head box file")
    try:
        boxes = np.asarray(loadmat(str(path))["headboxes_src"], dtype=np.float64)
    except (KeyError, ValueError, OSError, TypeError) as e:
        raise DataError(f"head box file {path} is not a .mat file with a 'headboxes_src' array: {e}") from e
    if boxes.ndim != 3 or boxes.shape[:2] != (2, 2) or boxes.shape[2] != count:
        raise DataError(f"head box file {path}: 'headboxes_src' has shape {boxes.shape}, expected (2, 2, {count})")
    boxes = np.transpose(boxes, (2, 0, 1))
    return np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1) * SC_BIAS


class MpiiDataset(BaseDataset):
    """MPII (K = 16) from MMPose's json annotations.

    Args:
        ann_file: the json list of annotations, under ``data_root`` unless absolute.
        data_mode: ``topdown`` (one sample per person) or ``bottomup`` (one per image).
        data_root: folder that relative ``ann_file``, ``headbox_file`` and ``data_prefix`` paths are under.
        test_mode: evaluation mode (required by ``headbox_file``).
        headbox_file: MPII's ``.mat`` ground truth with ``headboxes_src``, for PCKh.
        metainfo, data_prefix, filter_cfg, indices, serialize_data, pipeline, lazy_init, max_refetch,
        seed: as :class:`~posekit.datasets.BaseDataset` (``metainfo`` default ``mpii``).
    """

    METAINFO: ClassVar[str] = "mpii"

    def __init__(
        self,
        ann_file: str = "",
        data_mode: Literal["topdown", "bottomup"] = "topdown",
        data_root: str | None = None,
        test_mode: bool = False,
        headbox_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        if headbox_file:
            if data_mode != "topdown" or not test_mode:
                raise ConfigError(f"{type(self).__name__}: headbox_file needs data_mode='topdown' and test_mode=True")
            if Path(headbox_file).suffix != ".mat":
                raise ConfigError(f"{type(self).__name__}: headbox_file must be a .mat file, got {headbox_file!r}")
            headbox_file = join_root(headbox_file, data_root)
        self.headbox_file = headbox_file
        super().__init__(ann_file=ann_file, data_mode=data_mode, data_root=data_root, test_mode=test_mode, **kwargs)

    def parse_data_info(self, idx: int, ann: Any) -> PoseSample:
        """Annotation ``idx`` of the list as a one-instance sample (errors name the file and index)."""
        where = f"annotation file {self.ann_file}: annotation {idx}"
        if not isinstance(ann, dict) or any(k not in ann for k in ("image", "center", "scale", "joints", "joints_vis")):
            raise DataError(f"{where} needs 'image', 'center', 'scale', 'joints' and 'joints_vis'")
        where += f" (image {ann['image']})"
        stem = Path(str(ann["image"])).stem
        if not stem.isdigit():
            raise DataError(f"{where}: the image name must be the numeric MPII image id, e.g. 005808361.jpg")
        num = self.metainfo.num_keypoints
        joints = number_array(ann["joints"], "joints", where)
        joints_vis = number_array(ann["joints_vis"], "joints_vis", where)
        if joints.size != 2 * num or joints_vis.size != num:
            raise DataError(
                f"{where}: {joints.size // 2} joints and {joints_vis.size} joints_vis for the keypoint definition "
                f"{self.metainfo.dataset_name!r} of {num} keypoints"
            )
        center = number_array(ann["center"], "center", where).reshape(1, 2).copy()
        scale = np.repeat(number_array(ann["scale"], "scale", where).reshape(1, 1), 2, axis=1) * PIXEL_STD
        if center[0, 0] != -1:
            center[0, 1] += 15.0 / PIXEL_STD * scale[0, 1]
        center -= 1  # MPII is 1-based
        corner = center - 0.5 * scale  # MMPose's bbox_cs2xyxy (same float rounding)
        bbox = np.concatenate([corner, corner + scale], axis=1)
        keypoints = joints.reshape(1, num, 2)
        w, h = bbox[0, 2:] - bbox[0, :2]
        return PoseSample(
            img_id=int(stem),
            id=idx,
            img_path=os.path.join(self.data_prefix["img"], ann["image"]),
            bbox=bbox,
            bbox_score=np.ones(1, np.float32),
            bbox_center=center,
            bbox_scale=scale,
            keypoints=keypoints,
            keypoints_visible=joints_vis.reshape(1, num),
            area=np.array([max(float(w * h) * 0.53, 1.0)], np.float32),
            iscrowd=np.zeros(1, np.int64),
            num_keypoints=np.array([np.count_nonzero(keypoints.max(axis=2))], np.int64),
        )

    def load_data_list(self) -> list[PoseSample]:
        anns = read_json(self.ann_file)
        if not isinstance(anns, list):
            raise DataError(f"annotation file {self.ann_file}: MPII annotations are a json list, got {type(anns)}")
        instances = [self.parse_data_info(i, ann) for i, ann in enumerate(anns)]
        if self.headbox_file:
            for sample, size in zip(instances, load_head_sizes(self.headbox_file, len(instances)), strict=True):
                sample.extra["head_size"] = np.array([[size]])  # float64, as MMPose
        if self.data_mode == "topdown":
            return self.to_topdown(instances)
        return self.to_bottomup(instances, ())  # every MPII image has a person
