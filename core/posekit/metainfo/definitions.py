"""The keypoint definitions that ship with posekit (entry-point group ``posekit.metainfo``).

Each returns the YAML file beside this module (MMPose's ``configs/_base_/datasets/<name>.py`` as data).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from posekit.metainfo.loader import load_metainfo_file

if TYPE_CHECKING:
    from posekit.metainfo.schema import KeypointInfo

_HERE = Path(__file__).parent


@functools.cache
def _load(file_name: str) -> KeypointInfo:
    return load_metainfo_file(_HERE / file_name)


def coco() -> KeypointInfo:
    """COCO person keypoints (17)."""
    return _load("coco.yaml")


def coco_wholebody() -> KeypointInfo:
    """COCO-WholeBody: body 17, feet 6, face 68, left hand 21, right hand 21 (133)."""
    return _load("coco_wholebody.yaml")


def mpii() -> KeypointInfo:
    """MPII Human Pose (16)."""
    return _load("mpii.yaml")


def crowdpose() -> KeypointInfo:
    """CrowdPose (14)."""
    return _load("crowdpose.yaml")


def h36m() -> KeypointInfo:
    """Human3.6M joints (17), with the box statistics the lifting codecs use."""
    return _load("h36m.yaml")


def ap10k() -> KeypointInfo:
    """AP-10K animal keypoints (17)."""
    return _load("ap10k.yaml")


def onehand10k() -> KeypointInfo:
    """OneHand10K hand keypoints (21)."""
    return _load("onehand10k.yaml")


def wflw() -> KeypointInfo:
    """WFLW face landmarks (98)."""
    return _load("wflw.yaml")


def posetrack18() -> KeypointInfo:
    """PoseTrack18 person keypoints (17; head bottom/top in place of COCO's eyes)."""
    return _load("posetrack18.yaml")
