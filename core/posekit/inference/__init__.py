"""Inference: the :class:`Inferencer`, detectors, video helpers (servings and backends are plugins')."""

from posekit.inference.detectors import PersonDetector, build_detector
from posekit.inference.inferencer import Inferencer
from posekit.inference.results import PoseInstance
from posekit.inference.sources import read_keypoint_json
from posekit.inference.video import IouTracker, OneEuroFilter, PoseSmoother

__all__ = [
    "Inferencer",
    "IouTracker",
    "OneEuroFilter",
    "PersonDetector",
    "PoseInstance",
    "PoseSmoother",
    "build_detector",
    "read_keypoint_json",
]
