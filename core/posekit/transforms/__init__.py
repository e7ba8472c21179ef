"""Data-pipeline transforms with MMPose 1.x's names, arguments and numbers.

Coordinates are image pixels until a paradigm's warp writes input-space
``transformed_keypoints`` (``keypoints`` stay in image pixels, as MMPose). Random transforms
draw from ``sample.rng``, seeded per sample from ``(seed, epoch, index)``, so the same seed gives
the same batches whatever the worker count; the deterministic path reproduces MMPose's numbers.
"""

from posekit.transforms.base import BaseTransform, Compose
from posekit.transforms.common import GenerateTarget, RandomFlip
from posekit.transforms.formatting import PackPoseInputs
from posekit.transforms.loading import LoadImage
from posekit.transforms.rng import get_rng, sample_rng

__all__ = [
    "BaseTransform",
    "Compose",
    "GenerateTarget",
    "LoadImage",
    "PackPoseInputs",
    "RandomFlip",
    "get_rng",
    "sample_rng",
]
