"""ED-Pose's bottom-up crop and multi-scale resize on shared COCO images: instances move with the pixels, the
crop keeps or drops them as MMPose's ``allow_negative_crop`` says, the input maps back to the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from posekit_bottomup.crop_resize import BottomupRandomChoiceResize, BottomupRandomCrop
from posekit_testing.samples import assert_dots_follow, assert_seeded, coco_dataset, coco_sample, isolated_keypoints

from posekit.estimators.base import input_to_image
from posekit.registry import build


def _meets(bbox: np.ndarray, left: float, top: float, w: int, h: int) -> np.ndarray:
    return (bbox[:, 0] < left + w) & (bbox[:, 1] < top + h) & (bbox[:, 2] > left) & (bbox[:, 3] > top)


def test_crop_keeps_the_instances_it_meets(shared: Path) -> None:
    outcomes = set()
    for seed in range(16):
        sample = coco_sample(shared, 196141, seed)  # 640 x 429, five people
        before = sample.keypoints.copy(), sample.keypoints_visible.copy(), sample.bbox.copy()
        crop = {"type": "BottomupRandomCrop", "crop_size": (60, 120), "crop_type": "absolute_range"}
        strict = build("transform", crop)(coco_sample(shared, 196141, seed))
        out = build("transform", {**crop, "allow_negative_crop": True})(sample)
        h, w = out.img.shape[:2]
        assert 60 <= w <= 120 and 60 <= h <= 120 and out.img_shape == (h, w)
        left, top = -out.warp_mat[:, 2]
        kept = _meets(before[2], left, top, w, h)
        assert (strict is None) == (not kept.any()), "no instance in the window: dropped unless allowed"
        outcomes.add(strict is None)
        assert out.num_instances == kept.sum() == len(out.bbox) == len(out.keypoints_visible)
        moved = before[0][kept] - (left, top)
        np.testing.assert_allclose(out.keypoints, np.clip(moved, 0, [w, h]))
        outside = (moved < 0).any(-1) | (moved > [w, h]).any(-1)
        np.testing.assert_array_equal(out.keypoints_visible, np.where(outside, 0, before[1][kept]))
        np.testing.assert_allclose(out.bbox, np.clip(before[2][kept] - (left, top) * 2, 0, [w, h] * 2))
        if kept[0]:  # instance 0's dots are where its keypoints went
            isolated = isolated_keypoints(before[0][0]) & ~outside[0]
            assert_dots_follow(out, out.keypoints[0], isolated, list(range(17)))
    assert outcomes == {True, False}, "16 seeds cover windows with and without people"


def test_crop_sizes_follow_the_crop_type(shared: Path) -> None:
    def size(**cfg: object) -> tuple[int, int]:
        return BottomupRandomCrop(**cfg, allow_negative_crop=True)(coco_sample(shared, 40083)).img.shape[:2]

    assert size(crop_size=(200, 100)) == (100, 200)  # absolute (w, h)
    assert size(crop_size=(900, 900)) == (333, 500)  # larger than the image: kept whole
    assert size(crop_size=(0.5, 0.25), crop_type="relative") == (83, 250)  # (w, h) fractions
    h, w = size(crop_size=(0.5, 0.9), crop_type="relative_range")  # MMPose's (h, w) minimum fractions
    assert 166 <= h <= 333 and 450 <= w <= 500
    with pytest.raises(ValueError, match="min > max"):
        BottomupRandomCrop(crop_size=(50, 20), crop_type="absolute_range")
    with pytest.raises(ValueError, match="fractions"):
        BottomupRandomCrop(crop_size=(2.0, 0.5), crop_type="relative")
    assert_seeded(BottomupRandomCrop(crop_size=(60, 60), allow_negative_crop=True))


def test_choice_resize_input_maps_back_to_the_image(shared: Path) -> None:
    sample = coco_sample(shared, 40083)
    original = sample.keypoints.copy()
    isolated = isolated_keypoints(original[0]) & (sample.keypoints_visible[0] > 0)
    out = BottomupRandomChoiceResize(scales=[(800, 1333)], keep_ratio=True, backend="pillow")(sample)
    assert out.img.shape == (800, 1201, 3) and out.input_size == (1201, 800)  # 500 x 333 * 800 / 333
    assert_dots_follow(out, out.keypoints[0], isolated, list(range(17)))
    np.testing.assert_allclose(input_to_image(out.keypoints, out), original, atol=1e-3)

    # after a crop the input shows the crop's window, and still maps back
    sample = coco_sample(shared, 196141, seed=3)
    original, boxes = sample.keypoints.copy(), sample.bbox.copy()
    crop = BottomupRandomCrop(crop_size=(300, 400), crop_type="absolute_range", allow_negative_crop=True)
    out = BottomupRandomChoiceResize(scales=[(480, 1333), (512, 1333)], keep_ratio=True)(crop(sample))
    corner = out.input_center - out.input_scale / 2
    kept = _meets(boxes, *corner, *out.input_scale)
    assert out.num_instances == kept.sum() > 0
    window = original[kept]
    inside = ((window >= corner) & (window <= corner + out.input_scale)).all(-1)
    np.testing.assert_allclose(input_to_image(out.keypoints, out)[inside], window[inside], atol=1e-2)


def test_training_only_and_the_ed_pose_pipeline(shared: Path) -> None:
    assert BottomupRandomCrop.train_only and not BottomupRandomChoiceResize.train_only
    scales = [(480, 1333), (512, 1333), (544, 1333)]
    pipeline = [
        {"type": "LoadImage"},
        {"type": "RandomFlip", "direction": "horizontal"},
        {
            "type": "RandomChoice",
            "transforms": [
                [{"type": "RandomChoiceResize", "scales": scales, "keep_ratio": True}],
                [
                    {"type": "BottomupRandomChoiceResize", "scales": [(400, 4200), (500, 4200)], "keep_ratio": True},
                    {
                        "type": "BottomupRandomCrop",
                        "crop_type": "absolute_range",
                        "crop_size": (384, 600),
                        "allow_negative_crop": True,
                    },
                    {"type": "BottomupRandomChoiceResize", "scales": scales, "keep_ratio": True},
                ],
            ],
        },
        {"type": "PackPoseInputs"},
    ]
    dataset = coco_dataset(shared, pipeline, seed=0)
    for i in range(len(dataset)):
        sample = dataset[i]
        h, w = sample.img_shape
        assert tuple(sample.inputs.shape[1:]) == (h, w) and min(h, w) in (480, 512, 544)
        assert (sample.keypoints >= 0).all() and (sample.keypoints <= (w, h)).all()
