"""BatchSyncRandomResize as a batch augment of PoseDataPreprocessor: sizes drawn, geometry scaled with the pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import posekit
from posekit.structures import PoseBatch, PoseSample

AUGMENT = {"type": "BatchSyncRandomResize", "random_size_range": (32, 96), "size_divisor": 32, "interval": 1}


def _batch() -> PoseBatch:
    g = torch.Generator().manual_seed(0)
    samples = [
        PoseSample(
            bbox=np.array([[4.0, 8.0, 20.0, 40.0]], np.float32),
            keypoints=np.full((1, 3, 2), 10.0, np.float32),
            area=np.array([100.0], np.float32),
            img_shape=(64, 64),
            input_size=(64, 64),
        )
        for _ in range(2)
    ]
    targets = {
        "bbox": torch.tensor([[[4.0, 8.0, 20.0, 40.0]], [[0.0, 0.0, 64.0, 64.0]]]),
        "keypoints": [torch.full((1, 3, 2), 10.0), torch.full((2, 3, 2), 32.0)],
        "area": [torch.tensor([100.0]), torch.tensor([50.0, 60.0])],
        "heatmap_mask": torch.ones(2, 64, 64),
        "keypoint_weights": torch.ones(2, 1, 3),
    }
    inputs = torch.randint(0, 256, (2, 3, 64, 64), generator=g, dtype=torch.uint8)
    return PoseBatch(inputs=inputs, targets=targets, samples=samples)


def test_resizes_training_batches_and_their_geometry() -> None:
    torch.manual_seed(1)
    pre = posekit.build("data_preprocessor", {"type": "PoseDataPreprocessor", "batch_augments": [AUGMENT]})
    first = pre(_batch(), training=True)
    assert first.inputs.shape[-2:] == (64, 64)  # the first batch keeps its size, then a size is drawn
    sizes = set()
    for _ in range(6):
        batch = _batch()
        plain = pre.normalize(batch.inputs)
        out = pre(batch, training=True)
        h, w = out.inputs.shape[-2:]
        sizes.add(h)
        assert h == w and h % 32 == 0 and 32 <= h <= 96  # square batches stay square
        sx, sy = w / 64, h / 64
        if h != 64:
            expected = F.interpolate(plain, size=(h, w), mode="bilinear", align_corners=False)
            torch.testing.assert_close(out.inputs, expected)
        torch.testing.assert_close(out.targets["bbox"][0, 0], torch.tensor([4 * sx, 8 * sy, 20 * sx, 40 * sy]))
        torch.testing.assert_close(out.targets["keypoints"][1], torch.full((2, 3, 2), 32.0) * torch.tensor([sx, sy]))
        torch.testing.assert_close(out.targets["area"][1], torch.tensor([50.0, 60.0]) * sx * sy)
        assert out.targets["heatmap_mask"].shape == (2, h, w)
        assert out.targets["keypoint_weights"].shape == (2, 1, 3)  # other targets untouched
        assert out.samples[0].img_shape == (h, w) and out.samples[0].input_size == (w, h)
        np.testing.assert_allclose(out.samples[0].bbox, [[4 * sx, 8 * sy, 20 * sx, 40 * sy]], rtol=1e-6)
        np.testing.assert_allclose(out.samples[0].area, [100 * sx * sy], rtol=1e-6)
    assert len(sizes) > 1  # a new size is drawn every interval


def test_evaluation_batches_are_left_alone() -> None:
    pre = posekit.build("data_preprocessor", {"type": "PoseDataPreprocessor", "batch_augments": [AUGMENT]})
    for _ in range(3):
        pre(_batch(), training=True)
    out = pre(_batch(), training=False)
    assert out.inputs.shape[-2:] == (64, 64) and out.targets["bbox"][0, 0, 2] == 20.0


def test_range_without_a_multiple_is_refused() -> None:
    with pytest.raises(ValueError, match="holds no positive multiple of size_divisor 32"):
        posekit.build("data_preprocessor", {"type": "BatchSyncRandomResize", "random_size_range": (1, 10)})
