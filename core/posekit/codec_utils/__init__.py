"""Shared numpy helpers of the keypoint codecs, one module per role, number for number MMPose 1.x's.

Dimensions: N instances (or B samples), K keypoints; a ``heatmap_size`` is ``(W, H)``, arrays are
``(..., H, W)``. Keypoints are already in the space of the array they index (heatmap pixels).
"""

from posekit.codec_utils.blur import gaussian_blur
from posekit.codec_utils.checks import check_array, check_keypoints
from posekit.codec_utils.flip import flip_coordinates, flip_heatmaps
from posekit.codec_utils.maxima import get_heatmap_maximum
from posekit.codec_utils.refinement import (
    refine_keypoints,
    refine_keypoints_dark,
    refine_keypoints_dark_udp,
)
from posekit.codec_utils.targets import (
    generate_gaussian_heatmaps,
    generate_udp_gaussian_heatmaps,
    generate_unbiased_gaussian_heatmaps,
)

__all__ = [
    "check_array",
    "check_keypoints",
    "flip_coordinates",
    "flip_heatmaps",
    "gaussian_blur",
    "generate_gaussian_heatmaps",
    "generate_udp_gaussian_heatmaps",
    "generate_unbiased_gaussian_heatmaps",
    "get_heatmap_maximum",
    "refine_keypoints",
    "refine_keypoints_dark",
    "refine_keypoints_dark_udp",
]
