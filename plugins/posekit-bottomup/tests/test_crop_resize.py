"""ED-Pose's bottom-up crop and multi-scale resize on shared COCO images: instances move with the pixels, the
crop keeps or drops them as MMPose's ``allow_negative_crop`` says, the input maps back to the image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from posekit_bottomup.crop_resize import BottomupRandomChoiceResize, BottomupRandomCrop

from posekit.estimators.base import input_to_image
from posekit.registry import build
from posekit.structures import PoseSample

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _meets(bbox: np.ndarray, left: float, top: float, w: int, h: int) -> np.ndarray:
    return (bbox[:, 0] < left + w) & (bbox[:, 1] < top + h) & (bbox[:, 2] > left) & (bbox[:, 3] > top)


def test_crop_keeps_the_instances_it_meets(posekit_samples: Any, shared: Path) -> None:
    outcomes = set()
    for seed in range(16):
        sample = posekit_samples.coco_sample(shared, 196141, seed)  # 640 x 429, five people
        before = sample.keypoints.copy(), sample.keypoints_visible.copy(), sample.bbox.copy()
        crop = {"type": "BottomupRandomCrop", "crop_size": (60, 120), "crop_type": "absolute_range"}
        strict = build("transform", crop)(posekit_samples.coco_sample(shared, 196141, seed))
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
            isolated = posekit_samples.isolated_keypoints(before[0][0]) & ~outside[0]
            posekit_samples.assert_dots_follow(out, out.keypoints[0], isolated, list(range(17)))
    assert outcomes == {True, False}, "16 seeds cover windows with and without people"


def test_crop_sizes_follow_the_crop_type(posekit_samples: Any, shared: Path) -> None:
    def size(**cfg: object) -> tuple[int, int]:
        return BottomupRandomCrop(**cfg, allow_negative_crop=True)(
            posekit_samples.coco_sample(shared, 40083)
        ).img.shape[:2]

    assert size(crop_size=(200, 100)) == (100, 200)  # absolute (w, h)
    assert size(crop_size=(900, 900)) == (333, 500)  # larger than the image: kept whole
    assert size(crop_size=(0.5, 0.25), crop_type="relative") == (83, 250)  # (w, h) fractions
    h, w = size(crop_size=(0.5, 0.9), crop_type="relative_range")  # MMPose's (h, w) minimum fractions
    assert 166 <= h <= 333 and 450 <= w <= 500
    with pytest.raises(ValueError, match="min > max"):
        BottomupRandomCrop(crop_size=(50, 20), crop_type="absolute_range")
    with pytest.raises(ValueError, match="fractions"):
        BottomupRandomCrop(crop_size=(2.0, 0.5), crop_type="relative")
    posekit_samples.assert_seeded(BottomupRandomCrop(crop_size=(60, 60), allow_negative_crop=True))


def test_choice_resize_input_maps_back_to_the_image(posekit_samples: Any, shared: Path) -> None:
    sample = posekit_samples.coco_sample(shared, 40083)
    original = sample.keypoints.copy()
    isolated = posekit_samples.isolated_keypoints(original[0]) & (sample.keypoints_visible[0] > 0)
    out = BottomupRandomChoiceResize(scales=[(800, 1333)], keep_ratio=True, backend="pillow")(sample)
    assert out.img.shape == (800, 1201, 3) and out.input_size == (1201, 800)  # 500 x 333 * 800 / 333
    posekit_samples.assert_dots_follow(out, out.keypoints[0], isolated, list(range(17)))
    np.testing.assert_allclose(input_to_image(out.keypoints, out), original, atol=1e-3)

    # after a crop the input shows the crop's window, and still maps back
    sample = posekit_samples.coco_sample(shared, 196141, seed=3)
    original, boxes = sample.keypoints.copy(), sample.bbox.copy()
    crop = BottomupRandomCrop(crop_size=(300, 400), crop_type="absolute_range", allow_negative_crop=True)
    out = BottomupRandomChoiceResize(scales=[(480, 1333), (512, 1333)], keep_ratio=True)(crop(sample))
    corner = out.input_center - out.input_scale / 2
    kept = _meets(boxes, *corner, *out.input_scale)
    assert out.num_instances == kept.sum() > 0
    window = original[kept]
    inside = ((window >= corner) & (window <= corner + out.input_scale)).all(-1)
    np.testing.assert_allclose(input_to_image(out.keypoints, out)[inside], window[inside], atol=1e-2)


def test_training_only_and_the_ed_pose_pipeline(posekit_samples: Any, shared: Path) -> None:
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
    dataset = posekit_samples.coco_dataset(shared, pipeline, seed=0)
    for i in range(len(dataset)):
        sample = dataset[i]
        h, w = sample.img_shape
        assert tuple(sample.inputs.shape[1:]) == (h, w) and min(h, w) in (480, 512, 544)
        assert (sample.keypoints >= 0).all() and (sample.keypoints <= (w, h)).all()


class _FixedDraws:
    """A generator stand-in whose ``integers`` returns given values in turn (the crop's top, then left)."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)

    def integers(self, *args: object) -> int:
        return self.values.pop(0)


def _people(shared: Path, img_id: int) -> PoseSample:
    """Every annotation of a shared COCO image as an instance (the fixture generator's input)."""
    data = json.loads((shared / "data/coco/test_coco.json").read_text())
    image = next(i for i in data["images"] if i["id"] == img_id)
    kpts = np.array([a["keypoints"] for a in data["annotations"] if a["image_id"] == img_id], np.float32)
    kpts = kpts.reshape(len(kpts), -1, 3)
    bbox = np.array([a["bbox"] for a in data["annotations"] if a["image_id"] == img_id], np.float32)
    bbox[:, 2:] += bbox[:, :2]
    img = cv2.imread(str(shared / "data/coco" / image["file_name"]))
    return PoseSample(
        img=img,
        img_shape=img.shape[:2],
        ori_shape=img.shape[:2],
        keypoints=kpts[..., :2].copy(),
        keypoints_visible=(kpts[..., 2] > 0).astype(np.float32),
        bbox=bbox,
    )


@pytest.mark.parametrize("img_id", [40083, 196141])
def test_matches_mmpose(shared: Path, img_id: int) -> None:
    """``fixtures/crop_resize.npz`` (``fixtures/generate_crop_resize.py``, MMPose 1.3.2): keypoints exact,
    boxes 1e-5 relative (MMPose keeps them float64), image rows within 1e-3 gray levels."""
    ref = np.load(FIXTURES / "crop_resize.npz")
    for backend in ("cv2", "pillow"):
        cfg = {"scales": [(480, 1333)], "keep_ratio": True, "backend": backend}
        out = BottomupRandomChoiceResize(**cfg)(_people(shared, img_id))
        case = f"{img_id}/resize_{backend}"
        np.testing.assert_array_equal(out.keypoints, ref[f"{case}/keypoints"], err_msg=case)
        np.testing.assert_allclose(out.bbox, ref[f"{case}/bbox"], rtol=1e-5, err_msg=case)
        np.testing.assert_allclose(out.img.mean(axis=(1, 2)), ref[f"{case}/img_rows"], atol=1e-3, err_msg=case)
    sample = _people(shared, img_id)
    sample.rng = _FixedDraws(60, 250)
    out = BottomupRandomCrop(crop_size=(200, 150))(sample)
    for key in ("keypoints", "keypoints_visible", "bbox"):
        np.testing.assert_array_equal(getattr(out, key), ref[f"{img_id}/crop/{key}"], err_msg=key)
    np.testing.assert_array_equal(out.warp_mat, ref[f"{img_id}/crop/warp_mat"][:2])
    np.testing.assert_allclose(out.img.mean(axis=(1, 2)), ref[f"{img_id}/crop/img_rows"], atol=1e-3)
    outs = []
    for allow in (False, True):  # a window meeting no box: dropped unless allowed
        sample = _people(shared, img_id)
        sample.rng = _FixedDraws(0, 0)
        outs.append(BottomupRandomCrop(crop_size=(4, 4), allow_negative_crop=allow)(sample))
    assert outs[0] is None and bool(ref[f"{img_id}/empty_crop/dropped"])
    assert outs[1].num_instances == int(ref[f"{img_id}/empty_crop/instances"]) == 0
