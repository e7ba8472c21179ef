"""The colour augmentations: seeded, image-only, and YOLOXHSVRandomAug's numbers as mmdet's formula."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from posekit.registry import build


@pytest.mark.parametrize("name", ["PhotometricDistortion", "YOLOXHSVRandomAug"])
def test_seeded_and_image_only(posekit_samples: Any, name: str) -> None:
    transform = build("transform", {"type": name})
    assert transform.train_only
    posekit_samples.assert_seeded(transform)
    for seed in range(8):
        sample = posekit_samples.seeded_sample(seed)
        before = posekit_samples.sample_state(posekit_samples.seeded_sample(seed))[1:]
        out = transform(sample)
        assert out.img.shape == (120, 160, 3) and out.img.dtype == np.uint8 and out.img.flags.c_contiguous
        for a, b in zip(posekit_samples.sample_state(out)[1:], before, strict=True):  # all but the image unchanged
            np.testing.assert_array_equal(a, b)


def test_yolox_hsv_matches_mmdet_formula(posekit_samples: Any) -> None:
    sample = posekit_samples.seeded_sample(3)
    img = sample.img.copy()
    rng = posekit_samples.seeded_sample(3).rng  # the same stream the transform draws from
    gains = rng.uniform(-1, 1, 3) * (5, 30, 30)
    gains = (gains * rng.integers(0, 2, 3)).astype(np.int16)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + gains[0]) % 180
    hsv[..., 1:] = np.clip(hsv[..., 1:] + gains[1:], 0, 255)
    expected = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    np.testing.assert_array_equal(build("transform", {"type": "YOLOXHSVRandomAug"})(sample).img, expected)
