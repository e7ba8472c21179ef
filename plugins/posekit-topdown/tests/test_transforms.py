"""Top-down transforms: MMPose's deterministic top-down numbers, seeded box augmentations, crops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from posekit_topdown.transforms import GetBBoxCenterScale, RandomBBoxTransform, RandomHalfBody, TopdownAffine

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms import Compose, LoadImage, sample_rng

COCO_UPPER = list(range(11))
COCO_LOWER = list(range(11, 17))


def _cases(shared: Path) -> list[dict]:
    return json.loads((shared / "fixtures/mmpose/pipeline/cases.json").read_text())["cases"]


# ---------------------------------------------------------------- MMPose reference (deterministic path)


@pytest.mark.parametrize("udp", [False, True], ids=["plain", "udp"])
def test_topdown_matches_mmpose(shared: Path, udp: bool) -> None:
    fixture = shared / "fixtures/mmpose/pipeline"
    for case in _cases(shared):
        where = f"{fixture}/cases.json case {case['name']} ({'udp' if udp else 'plain'})"
        ref = case["udp"] if udp else case
        sample = PoseSample(
            img_id=case["ann_id"],
            img_path=str(shared / case["image"]),
            bbox=np.asarray([case["bbox"]], np.float32),
            keypoints=np.asarray([case["keypoints"]], np.float32),
            keypoints_visible=np.asarray([case["keypoints_visible"]], np.float32),
        )
        sample = GetBBoxCenterScale(padding=case["padding"])(LoadImage()(sample))
        np.testing.assert_array_equal(sample.bbox_center[0], np.float32(case["bbox_center"]), err_msg=where)
        np.testing.assert_array_equal(sample.bbox_scale[0], np.float32(case["bbox_scale"]), err_msg=where)
        sample = TopdownAffine(input_size=tuple(case["input_size"]), use_udp=udp)(sample)
        np.testing.assert_array_equal(sample.input_scale, np.float32(ref["input_scale"]), err_msg=where)
        assert sample.warp_mat.dtype == np.dtype(ref["warp_mat_dtype"]), where
        np.testing.assert_array_equal(
            sample.warp_mat, np.asarray(ref["warp_mat"], ref["warp_mat_dtype"]), err_msg=where
        )
        np.testing.assert_array_equal(
            sample.transformed_keypoints[0], np.float32(ref["transformed_keypoints"]), err_msg=where
        )
        np.testing.assert_array_equal(sample.keypoints[0], np.float32(case["keypoints"]), err_msg=where)
        crop = np.load(fixture / ref["crop"], allow_pickle=False)
        assert sample.img.shape == crop.shape, where
        diff = np.abs(sample.img.astype(np.int16) - crop.astype(np.int16))
        assert (diff > 1).mean() < 1e-3, (
            f"{where}: {(diff > 1).mean():.2%} of crop pixels differ by > 1 ({ref['crop']})"
        )


def test_pack_inputs_from_fixture_case(shared: Path) -> None:
    case = _cases(shared)[0]
    sample = PoseSample(img_path=str(shared / case["image"]), bbox=np.asarray([case["bbox"]], np.float32))
    pipeline = Compose(
        [
            {"type": "LoadImage"},
            {"type": "GetBBoxCenterScale"},
            {"type": "TopdownAffine", "input_size": tuple(case["input_size"])},
            {"type": "PackPoseInputs"},
        ]
    )
    crop = np.load(shared / "fixtures/mmpose/pipeline" / case["crop"])
    out = pipeline(sample)
    assert out.img is None and out.inputs.dtype == torch.uint8 and out.inputs.is_contiguous()
    assert torch.equal(out.inputs, torch.from_numpy(crop).permute(2, 0, 1))


# ---------------------------------------------------------------- seeded random box transforms


RANDOM = {
    "RandomHalfBody": lambda: RandomHalfBody(prob=0.5),
    "RandomBBoxTransform": lambda: RandomBBoxTransform(),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_same_seed_same_output(posekit_samples: Any, name: str) -> None:
    posekit_samples.assert_seeded(RANDOM[name]())


def test_unseeded_sample_follows_numpy_global_seed(posekit_samples: Any) -> None:
    def run() -> list[np.ndarray]:
        np.random.seed(5)
        return posekit_samples.sample_state(
            RandomBBoxTransform()(GetBBoxCenterScale()(posekit_samples.dotted_sample(n=2)))
        )

    for a, b in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_random_bbox_transform_ranges(posekit_samples: Any) -> None:
    sample = GetBBoxCenterScale(padding=1.0)(posekit_samples.seeded_sample(0, n=1))
    base_c, base_s = sample.bbox_center.copy(), sample.bbox_scale.copy()
    sample.bbox_center = np.repeat(base_c, 500, 0)
    sample.bbox_scale = np.repeat(base_s, 500, 0)
    out = RandomBBoxTransform(shift_factor=0.16, scale_factor=(0.5, 1.5), rotate_factor=80.0)(sample)
    ratio = out.bbox_scale / base_s
    assert ratio.min() >= 0.5 - 1e-6 and ratio.max() <= 1.5 + 1e-6
    np.testing.assert_allclose(ratio[:, 0], ratio[:, 1], rtol=1e-6)
    assert np.abs(out.bbox_rotation).max() <= 80 and 0.4 < (out.bbox_rotation != 0).mean() < 0.8
    shift = np.abs(out.bbox_center - base_c) / base_s
    assert shift.max() <= 0.16 * 1.5 + 1e-5 and 0.15 < (shift.sum(1) > 0).mean() < 0.45
    assert out.bbox_scale.dtype == out.bbox_center.dtype == np.float32


def test_half_body_box_is_the_half_extent(posekit_samples: Any) -> None:
    sample = GetBBoxCenterScale()(posekit_samples.dotted_sample(seed=1))
    out = RandomHalfBody(prob=1.0, upper_prioritized_prob=1.0, padding=1.5)(sample)
    upper = sample.keypoints[0, COCO_UPPER]
    np.testing.assert_allclose(out.bbox_center[0], upper.mean(0), rtol=1e-5)
    np.testing.assert_allclose(out.bbox_scale[0], (upper.max(0) - upper.min(0)) * 1.5, rtol=1e-5)
    low = RandomHalfBody(prob=1.0, upper_prioritized_prob=0.0)(
        GetBBoxCenterScale()(posekit_samples.dotted_sample(seed=1))
    )
    np.testing.assert_allclose(low.bbox_center[0], sample.keypoints[0, COCO_LOWER].mean(0), rtol=1e-5)
    # too few visible keypoints: unchanged
    few = GetBBoxCenterScale()(posekit_samples.dotted_sample(seed=1))
    few.keypoints_visible[:, :10] = 0
    kept = few.bbox_center.copy()
    np.testing.assert_array_equal(RandomHalfBody(prob=1.0)(few).bbox_center, kept)


# ---------------------------------------------------------------- top-down affine consistency


@pytest.mark.parametrize("udp", [False, True], ids=["plain", "udp"])
def test_topdown_affine_moves_keypoints_with_pixels(posekit_samples: Any, udp: bool) -> None:
    for seed in range(4):
        sample = posekit_samples.paint_dots(posekit_samples.dotted_sample(seed=seed, size=(200, 160)))
        sample.rng = sample_rng(seed, 0, 0)
        sample = GetBBoxCenterScale()(sample)
        sample = RandomBBoxTransform(rotate_prob=1.0, scale_factor=(1.2, 1.5), shift_prob=0.0)(sample)
        out = TopdownAffine(input_size=(96, 128), use_udp=udp)(sample)
        assert out.img.shape == (128, 96, 3) and out.input_size == (96, 128)
        # the input -> image inverse of the warp brings transformed keypoints back
        inv = cv2.invertAffineTransform(out.warp_mat.astype(np.float64))
        back = out.transformed_keypoints[0] @ inv[:, :2].T + inv[:, 2]
        np.testing.assert_allclose(back, out.keypoints[0], atol=1e-3)
        posekit_samples.assert_dots_follow(
            out, out.transformed_keypoints[0], posekit_samples.isolated_keypoints(out.keypoints[0]), list(range(17))
        )


def test_topdown_affine_wants_one_instance(posekit_samples: Any) -> None:
    sample = GetBBoxCenterScale()(posekit_samples.dotted_sample(n=2))
    with pytest.raises(DataError, match="one instance"):
        TopdownAffine(input_size=(48, 64))(sample)


# ---------------------------------------------------------------- whole pipelines


TOPDOWN_TRAIN = [
    {"type": "GetBBoxCenterScale"},
    {"type": "RandomFlip", "direction": "horizontal"},
    {"type": "RandomHalfBody"},
    {"type": "RandomBBoxTransform"},
    {"type": "TopdownAffine", "input_size": (48, 64)},
    {"type": "PackPoseInputs"},
]


def test_topdown_train_pipeline_is_seeded(posekit_samples: Any) -> None:
    pipeline = Compose(TOPDOWN_TRAIN)

    def batch(seed: int) -> torch.Tensor:
        samples = []
        for i in range(4):
            s = posekit_samples.dotted_sample(seed=i)
            s.bbox = s.bbox[:1]
            s.rng = sample_rng(seed, 0, i)
            samples.append(pipeline(s))
        assert all(s.rng is None and s.img is None for s in samples)
        return torch.stack([s.inputs for s in samples])

    a, b, c = batch(0), batch(0), batch(1)
    assert a.shape == (4, 3, 64, 48) and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert "TopdownAffine(input_size=(48, 64), use_udp=False)" in repr(pipeline)
