"""Albumentation with the transforms RTMPose's configs name (albumentations 1.x arguments), on a shared image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posekit.errors import ConfigError
from posekit.registry import build
from posekit.structures import PoseSample

pytest.importorskip("albumentations", reason="the albumentations extra of posekit-datasets")

#: RTMPose's stage-1 Albumentation step, as its configs write it
RTMPOSE = [
    {"type": "Blur", "p": 0.1},
    {"type": "MedianBlur", "p": 0.1},
    {
        "type": "CoarseDropout",
        "max_holes": 1,
        "max_height": 0.4,
        "max_width": 0.4,
        "min_holes": 1,
        "min_height": 0.2,
        "min_width": 0.2,
        "p": 1.0,
    },
]


def _sample(shared: Path, seed: int) -> PoseSample:
    load = build("transform", {"type": "LoadImage"})
    sample = load(PoseSample(img_path=str(shared / "data/coco/000000000785.jpg")))
    sample.rng = np.random.default_rng(seed)
    return sample


def test_rtmpose_step_drops_one_hole_reproducibly(shared: Path) -> None:
    albu = build("transform", {"type": "Albumentation", "transforms": RTMPOSE})
    original = _sample(shared, 0).img
    first = albu(_sample(shared, 0)).img
    assert first.shape == original.shape and first.dtype == np.uint8
    assert np.array_equal(first, albu(_sample(shared, 0)).img)  # the sample's generator seeds albumentations
    changed = np.any(first != original, axis=2)
    ys, xs = np.nonzero(changed)
    h, w = original.shape[:2]
    # one hole between 0.2 and 0.4 of the image side: the 1.x arguments took effect
    assert 0.15 * h <= ys.max() - ys.min() + 1 <= 0.45 * h and 0.15 * w <= xs.max() - xs.min() + 1 <= 0.45 * w
    assert not np.array_equal(first, albu(_sample(shared, 1)).img)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"transforms": [{"type": "Blurr"}]}, "'Blurr' is not an albumentations transform"),
        ({"transforms": [{"type": "Blur", "sigma": 3}]}, r"transforms\[0\] \(Blur\).*sigma"),
        ({"transforms": [{"type": "OneOf", "transforms": [{"type": "Nope"}]}]}, r"transforms\[0\]\.transforms\[0\]"),
        ({"transforms": [], "keymap": {"image": "image"}}, "not fields of a PoseSample"),
    ],
)
def test_bad_configs_name_the_transform(cfg: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("transform", {"type": "Albumentation", **cfg})
