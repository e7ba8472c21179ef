"""RegressionLabel and IntegralRegressionLabel against MMPose 1.3.2's reference cases.

Reference cases: shared/fixtures/mmpose/codecs/<Codec>-<tag>.npz, written by MMPose 1.3.2's
``codec.encode(keypoints, keypoints_visible)`` and ``codec.decode(encoded)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posekit.registry import build


@pytest.mark.parametrize("name", ["RegressionLabel", "IntegralRegressionLabel"])
def test_matches_mmpose(posekit_reference: Any, shared: Path, name: str) -> None:
    for path in posekit_reference.codec_cases(shared, name):
        codec, z, _ = posekit_reference.assert_encode_matches(path)
        keypoints, scores = codec.decode(z["decode_in_encoded"])
        posekit_reference.assert_same("decode keypoints", keypoints, z["decode_out_keypoints"], path.name)
        posekit_reference.assert_same("decode scores", scores, z["decode_out_scores"], path.name)
        batch = codec.batch_decode(z["decode_in_encoded"][None].repeat(2, axis=0))
        assert len(batch) == 2
        posekit_reference.assert_same("batch_decode keypoints", batch[1][0], z["decode_out_keypoints"], path.name)
        posekit_reference.assert_same("batch_decode scores", batch[1][1], z["decode_out_scores"], path.name)


def test_regression_label_by_hand() -> None:
    codec = build("codec", {"type": "RegressionLabel", "input_size": (10, 20)})
    keypoints = np.array([[[0.0, 0.0], [9.0, 19.0], [9.5, 1.0], [5.0, -0.5], [5.0, 5.0]]], np.float32)
    encoded = codec.encode(keypoints, np.array([[1, 1, 1, 1, 0.4]], np.float32))
    np.testing.assert_allclose(encoded["keypoint_labels"], keypoints / [10, 20])
    np.testing.assert_array_equal(encoded["keypoint_weights"], [[1, 1, 0, 0, 0]])
    decoded, scores = codec.decode(np.array([[[0.5, 0.25, 0.2, 0.4]]], np.float32))
    np.testing.assert_allclose(decoded, [[[5.0, 5.0]]])
    np.testing.assert_allclose(scores, [[0.7]])


def test_integral_regression_heatmaps_sum_to_one() -> None:
    codec = build(
        "codec", {"type": "IntegralRegressionLabel", "input_size": (64, 64), "heatmap_size": (16, 16), "sigma": 2.0}
    )
    encoded = codec.encode(np.array([[[20.0, 30.0], [100.0, 2.0]]], np.float32))
    np.testing.assert_allclose(encoded["heatmaps"][0].sum(), 1.0, rtol=1e-6)
    assert not encoded["heatmaps"][1].any()
    np.testing.assert_array_equal(encoded["keypoint_weights"], [[1.0, 0.0]])


def test_bad_input() -> None:
    codec = build("codec", {"type": "RegressionLabel", "input_size": (192, 256)})
    with pytest.raises(
        ValueError, match=r"keypoints: expected a numeric array of shape \(N, K, 2\), got .*\(1, 17, 3\)"
    ):
        codec.encode(np.zeros((1, 17, 3), np.float32))
    with pytest.raises(ValueError, match=r"encoded: expected .*\(N, K, 2\), got .*\(1, 17, 3\)"):
        codec.decode(np.zeros((1, 17, 3), np.float32))
    with pytest.raises(ValueError, match=r"batch_encoded: expected .*\(B, N, K, 2\), got a list"):
        codec.batch_decode([np.zeros((1, 17, 2), np.float32)])


@pytest.mark.parametrize(
    "cfg",
    [
        {"type": "RegressionLabel", "input_size": (192, 256)},
        {"type": "IntegralRegressionLabel", "input_size": (256, 256), "heatmap_size": (64, 64), "sigma": 2.0},
    ],
)
def test_conformance(posekit_check, cfg: dict) -> None:
    posekit_check.codec(cfg)
