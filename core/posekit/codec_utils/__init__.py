"""Shared numpy helpers of the keypoint codecs, one module per role.

- :mod:`~posekit.codec_utils.checks`: input checks (``check_array``, ``check_keypoints``);
- :mod:`~posekit.codec_utils.targets`: target rendering (Gaussian heatmaps);
- :mod:`~posekit.codec_utils.maxima`: maxima of heatmaps;
- :mod:`~posekit.codec_utils.blur`: Gaussian blurs that keep the maxima.
- :mod:`~posekit.codec_utils.refinement`: sub-pixel refinement (quarter pixel, DARK, DARK-UDP);
- :mod:`~posekit.codec_utils.flip`: test-time flips of torch tensors;

The maths follow MMPose 1.x (``mmpose/codecs/utils`` and ``mmpose/models/utils/tta.py``) number for
number, vectorised over instances and batches instead of looping over keypoints. What one
family alone uses lives with it (SimCC's maxima, DARK and flips in posekit-simcc, UDP's offset
maps in posekit-heatmap, heatmap NMS in posekit-bottomup).

Dimensions:

- N: instances (or B: samples of a batch); K: keypoints;
- [W, H]: heatmap size (a ``heatmap_size`` argument is ``(W, H)``, arrays are ``(..., H, W)``);
- L: SimCC bins along one axis.

Keypoints passed to these helpers are already in the space of the array they index (heatmap
pixels, SimCC bins); codecs scale them to and from the model's input space.
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
