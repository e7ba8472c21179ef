"""Data-pipeline transforms with MMPose 1.x's names, arguments and numbers.

Each transform is a class with a typed keyword constructor and
``__call__(sample: PoseSample) -> PoseSample`` (the sample is updated in place and
returned); :class:`Compose` runs a pipeline written as MMPose config dicts.

Coordinates: ``keypoints``, ``bbox``, ``bbox_center``, ``bbox_scale`` are image pixels
until a warp; a paradigm's warp (posekit-topdown's crop, posekit-bottomup's affine) writes
input-space ``transformed_keypoints`` and keeps ``keypoints`` in image pixels (as MMPose). A
transform that runs only in training declares ``train_only = True``; test-time pipelines leave
it out.

Randomness: random transforms draw only from ``sample.rng``, a
:class:`numpy.random.Generator` that the dataset seeds per sample with
``sample_rng(seed, epoch, index)``. The same seed then gives the same samples (and
batches) regardless of worker count or scheduling; a new epoch gives new augmentations.
When ``sample.rng`` is unset (a sample built by hand), :func:`get_rng` seeds one from
numpy's global state, so ``np.random.seed(s)`` makes that reproducible too. The draws
follow MMPose's distributions (scipy's truncated normal is replaced by an equivalent
vectorized rejection sampler); the deterministic path (no random transform, or a
probability of 0) reproduces MMPose's numbers exactly.
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
