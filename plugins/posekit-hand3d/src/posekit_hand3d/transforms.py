"""HandRandomFlip: RandomFlip that also swaps the hand type and negates the relative root depth."""

from __future__ import annotations

import numpy as np

from posekit.structures import PoseSample
from posekit.transforms.common import RandomFlip


class HandRandomFlip(RandomFlip):
    """Horizontal flip with probability ``prob``; a flipped sample's hands trade places.

    Besides :class:`~posekit.transforms.common.RandomFlip`'s work (image, boxes, keypoints swapped
    by the flip indices), it swaps the two columns of ``sample.extra["hand_type"]`` ``(1, 2)``
    (right, left) and negates ``sample.extra["rel_root_depth"]`` (the left root's depth relative
    to the right one), as MMPose's ``HandRandomFlip``.

    Args:
        prob: flip probability. Default 0.5.
    """

    def __init__(self, prob: float = 0.5) -> None:
        super().__init__(prob=prob, direction="horizontal")

    def __call__(self, sample: PoseSample) -> PoseSample:
        sample = super().__call__(sample)
        if sample.flip:
            for key in ("hand_type", "rel_root_depth"):
                if key not in sample.extra:
                    raise KeyError(
                        f"HandRandomFlip: sample {sample.img_id} (id {sample.id}) has no extra[{key!r}]; "
                        "it needs an InterHand dataset's hand annotations"
                    )
            sample.extra["hand_type"] = np.asarray(sample.extra["hand_type"])[..., [1, 0]]
            sample.extra["rel_root_depth"] = -sample.extra["rel_root_depth"]
        return sample
