"""Bottom-up transforms: resize, random affine (keypoints follow their pixels), heatmap masks, seeding."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from posekit_bottomup.transforms import BottomupGetHeatmapMask, BottomupRandomAffine, BottomupResize

from posekit.transforms import RandomFlip, sample_rng


def test_bottomup_resize_fit_and_expand(posekit_samples: Any) -> None:
    sample = posekit_samples.paint_dots(posekit_samples.dotted_sample(seed=5, size=(200, 120)))
    fit = BottomupResize(input_size=(128, 128), size_factor=32)(sample)
    assert fit.img.shape == (128, 128, 3) and fit.input_size == (128, 128) and fit.img_shape == (128, 128)
    # the 200 x 120 image fills 128 x 76.8 in the middle (MMPose's centred fit), padding above and below
    assert (fit.img[:25] == 0).all() and (fit.img[104:] == 0).all() and fit.img[30:100].any(axis=(1, 2)).all()
    kp = fit.keypoints[0] @ fit.warp_mat[:, :2].T + fit.warp_mat[:, 2]  # annotations stay in image pixels
    np.testing.assert_allclose(kp, (fit.keypoints[0] - (100, 60)) * 0.64 + 64, atol=1e-3)
    expand = BottomupResize(input_size=(128, 128), resize_mode="expand")(
        posekit_samples.dotted_sample(seed=5, size=(200, 120))
    )
    assert expand.img.shape[0] == 128 and expand.img.shape[1] == 224  # 128 * 200 / 120 = 213.3 -> 224
    with pytest.raises(ValueError, match="multiples"):
        BottomupResize(input_size=(100, 128))(posekit_samples.dotted_sample())


@pytest.mark.parametrize("mode", ["affine", "affine_udp", "perspective"])
def test_bottomup_random_affine_moves_keypoints_with_pixels(posekit_samples: Any, mode: str) -> None:
    for seed in range(3):
        sample = posekit_samples.paint_dots(posekit_samples.dotted_sample(seed=seed, size=(160, 160)))
        isolated = posekit_samples.isolated_keypoints(sample.keypoints[0])
        sample.rng = sample_rng(seed, 0, 0)
        sample.area = np.array([100.0], np.float32)
        out = BottomupRandomAffine(input_size=(160, 160), transform_mode=mode, scale_factor=(1.0, 1.3))(sample)
        assert out.img.shape == (160, 160, 3) and out.warp_mat is not None and out.input_size == (160, 160)
        assert out.bbox.shape == (1, 4)
        posekit_samples.assert_dots_follow(out, out.keypoints[0], isolated, list(range(17)))
        # then a flip happens in input space and the heatmap mask follows the image
        flipped = RandomFlip(prob=1.0)(out)
        flipped.targets["heatmaps"] = np.zeros((17, 40, 40), np.float32)
        masked = BottomupGetHeatmapMask()(flipped)
        assert masked.targets["heatmap_mask"].shape == (40, 40) and masked.targets["heatmap_mask"].dtype == bool


def test_heatmap_mask_from_invalid_segments(posekit_samples: Any) -> None:
    sample = posekit_samples.dotted_sample(size=(64, 64))
    sample.invalid_segs = [[[0, 0, 32, 0, 32, 64, 0, 64]]]  # left half is a crowd
    out = BottomupGetHeatmapMask()(sample)
    mask = out.targets["heatmap_mask"]
    assert mask[:, :30].sum() == 0 and mask[:, 34:].all()


@pytest.mark.parametrize("mode", ["affine", "perspective"])
def test_random_affine_same_seed_same_output(posekit_samples: Any, mode: str) -> None:
    posekit_samples.assert_seeded(BottomupRandomAffine(input_size=(96, 96), transform_mode=mode))


def test_training_only_transforms_declare_it() -> None:
    assert BottomupRandomAffine.train_only and BottomupGetHeatmapMask.train_only and not BottomupResize.train_only
