"""Data-pipeline transforms every paradigm uses: loading, flips, seeded randomness, targets, packing.

The top-down transforms (boxes, crops) and MMPose's top-down pipeline numbers are posekit-topdown's tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms import GenerateTarget, LoadImage, PackPoseInputs, RandomFlip
from posekit.transforms.common import apply_flip
from posekit.transforms.geometry import bbox_xyxy2cs, get_warp_matrix, warp_affine

COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _boxed(sample: PoseSample) -> PoseSample:
    """``sample`` with centers and scales of its boxes (padding 1.25, as a box-cropping pipeline sets them)."""
    sample.bbox_center, sample.bbox_scale = bbox_xyxy2cs(sample.bbox, padding=1.25)
    return sample


def _transformed(sample: PoseSample) -> PoseSample:
    """``sample`` with input-space ``transformed_keypoints`` (half the image's, shifted), as a warp sets them."""
    sample.transformed_keypoints = sample.keypoints * 0.5 + 1.0
    return sample


# ---------------------------------------------------------------- loading


def test_load_image_errors_name_file_and_id(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(DataError, match=r"nope\.jpg.*image id 42"):
        LoadImage()(PoseSample(img_id=42, img_path=str(missing)))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(DataError, match=r"corrupt\.jpg.*image id 3"):
        LoadImage()(PoseSample(img_id=3, img_path=str(corrupt)))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        LoadImage()(PoseSample(img_id=3, img_path=str(empty)))


def test_load_image_reads_bgr_uint8(tmp_path: Path) -> None:
    img = np.zeros((5, 7, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR
    cv2.imwrite(str(tmp_path / "a.png"), img)
    out = LoadImage()(PoseSample(img_path=str(tmp_path / "a.png")))
    assert out.img.dtype == np.uint8 and out.img_shape == out.ori_shape == (5, 7)
    np.testing.assert_array_equal(out.img, img)
    assert LoadImage(to_float32=True)(PoseSample(img_path=str(tmp_path / "a.png"))).img.dtype == np.float32


# ---------------------------------------------------------------- flips


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal"])
def test_flip_twice_is_identity(posekit_samples: Any, direction: str) -> None:
    sample = _boxed(posekit_samples.dotted_sample(n=2))
    before = PoseSample(**{k: getattr(sample, k) for k in ("img", "bbox", "bbox_center", "keypoints")})
    vis = sample.keypoints_visible.copy()
    vis[0, 3] = 0
    sample.keypoints_visible = vis.copy()
    once = apply_flip(sample, direction)
    assert once.flip and once.flip_direction == direction
    twice = apply_flip(once, direction)
    for name in ("img", "bbox", "bbox_center", "keypoints"):
        np.testing.assert_array_equal(getattr(twice, name), getattr(before, name), err_msg=name)
    np.testing.assert_array_equal(twice.keypoints_visible, vis)
    assert not twice.flip


def test_flip_keeps_keypoints_on_their_pixels(posekit_samples: Any) -> None:
    sample = posekit_samples.paint_dots(posekit_samples.dotted_sample(seed=3))
    isolated = posekit_samples.isolated_keypoints(sample.keypoints[0])
    flipped = RandomFlip(prob=1.0)(sample)
    assert flipped.flip and flipped.flip_direction == "horizontal"
    # flipped keypoint k is the mirror image of keypoint flip_indices[k]
    posekit_samples.assert_dots_follow(flipped, flipped.keypoints[0], isolated, COCO_FLIP)
    # a flipped box still encloses its keypoints
    b = flipped.bbox[0]
    assert (flipped.keypoints[0] >= b[:2]).all() and (flipped.keypoints[0] <= b[2:]).all()


def test_random_flip_probabilities_and_seed(posekit_samples: Any) -> None:
    assert not RandomFlip(prob=0.0)(posekit_samples.dotted_sample()).flip
    seeds = [RandomFlip(prob=0.5)(posekit_samples.seeded_sample(s)).flip for s in range(64)]
    assert 10 < sum(seeds) < 54
    assert seeds == [RandomFlip(prob=0.5)(posekit_samples.seeded_sample(s)).flip for s in range(64)]
    out = RandomFlip(prob=(0.0, 1.0), direction=("horizontal", "vertical"))(posekit_samples.dotted_sample())
    assert out.flip_direction == "vertical"
    with pytest.raises(ValueError, match="directions"):
        RandomFlip(prob=(0.5,), direction=("horizontal", "vertical"))


def test_flip_needs_flip_indices(posekit_samples: Any) -> None:
    sample = posekit_samples.dotted_sample()
    sample.flip_indices = []
    with pytest.raises(DataError, match="flip_indices"):
        RandomFlip(prob=1.0)(sample)


# ---------------------------------------------------------------- seeded random transforms


def test_random_flip_same_seed_same_output(posekit_samples: Any) -> None:
    posekit_samples.assert_seeded(RandomFlip(prob=0.5))


# ---------------------------------------------------------------- warps


def test_warp_affine_saturates_far_coordinates() -> None:
    img = np.full((20, 20, 3), 9, np.uint8)
    far = get_warp_matrix(np.array([1e6, 1e6], np.float32), np.array([10.0, 10.0], np.float32), 0.0, (8, 8))
    assert (warp_affine(img, far, (8, 8)) == 0).all()


# ---------------------------------------------------------------- targets and packing


class _Codec:
    """A stand-in codec: records what it was given."""

    auxiliary_encode_keys = frozenset({"lifting_target"})

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray, lifting_target: np.ndarray) -> dict:
        return {
            "keypoint_labels": keypoints * self.scale,
            "keypoint_weights": keypoints_visible.copy(),
            "target_root": lifting_target[:, 0],
        }


def test_generate_target_uses_transformed_keypoints_and_aux_keys(posekit_samples: Any) -> None:
    sample = _transformed(posekit_samples.dotted_sample(seed=2))
    sample.lifting_target = np.ones((1, 17, 3), np.float32)
    sample.dataset_keypoint_weights = np.linspace(1, 2, 17).astype(np.float32)
    out = GenerateTarget(encoder=_Codec(), use_dataset_keypoint_weights=True)(sample)
    np.testing.assert_array_equal(out.targets["keypoint_labels"], sample.transformed_keypoints)
    np.testing.assert_allclose(out.targets["keypoint_weights"][0], np.linspace(1, 2, 17))
    np.testing.assert_array_equal(out.target_root, np.ones((1, 3)))
    multi = GenerateTarget(encoder=(_Codec(1.0), _Codec(2.0)), multilevel=True)(sample)
    assert [x.shape for x in multi.targets["keypoint_labels"]] == [(1, 17, 2)] * 2
    with pytest.raises(ValueError, match="overlap"):
        GenerateTarget(encoder=(_Codec(), _Codec()))(sample)
    missing = posekit_samples.dotted_sample()
    with pytest.raises(DataError, match="lifting_target"):
        GenerateTarget(encoder=_Codec())(missing)


def test_generate_target_with_registered_codec(posekit_samples: Any) -> None:
    pytest.importorskip("posekit_heatmap")
    from posekit.registry import build

    cfg = {"type": "MSRAHeatmap", "input_size": (48, 64), "heatmap_size": (12, 16), "sigma": 2.0}
    sample = _transformed(posekit_samples.dotted_sample(seed=4))
    out = GenerateTarget(encoder=cfg)(sample)
    ref = build("codec", cfg).encode(sample.transformed_keypoints, sample.keypoints_visible)
    assert out.targets.keys() == ref.keys()
    for key in ref:
        np.testing.assert_array_equal(out.targets[key], ref[key])


def test_pack_lifting_inputs() -> None:
    seq = np.arange(27 * 17 * 2, dtype=np.float32).reshape(27, 17, 2)
    sample = PoseSample(keypoints=seq, lifting_target=np.zeros((1, 17, 3), np.float32))
    assert torch.equal(PackPoseInputs()(sample).inputs, torch.from_numpy(seq))
    labels = np.ascontiguousarray(seq.transpose(1, 2, 0).reshape(34, 27))  # a lifting codec's (K * C, T)
    sample = PoseSample(keypoints=seq, lifting_target=np.zeros((1, 17, 3), np.float32))
    sample.targets["keypoint_labels"] = labels
    out = PackPoseInputs()(sample)
    assert out.inputs.shape == (34, 27) and out.inputs[2 * 5 + 1, 3] == seq[3, 5, 1]
    with pytest.raises(DataError, match="no image"):
        PackPoseInputs()(PoseSample())
