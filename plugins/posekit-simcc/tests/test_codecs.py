"""SimCCLabel against MMPose 1.3.2's reference cases and hand-computed labels.

Reference cases: shared/fixtures/mmpose/codecs/SimCCLabel-<tag>.npz, written by MMPose 1.3.2's
``codec.encode(keypoints, keypoints_visible)`` and ``codec.decode(simcc_x, simcc_y)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posekit.errors import ConfigError
from posekit.registry import build


def test_matches_mmpose(posekit_reference: Any, shared: Path) -> None:
    for path in posekit_reference.codec_cases(shared, "SimCCLabel"):
        codec, z, _ = posekit_reference.assert_encode_matches(path)
        keypoints, scores = codec.decode(z["decode_in_simcc_x"], z["decode_in_simcc_y"])
        if "decode_out_visibility" in z.files:
            scores, visibility = scores
            posekit_reference.assert_same("decode visibility", visibility, z["decode_out_visibility"], path.name)
        posekit_reference.assert_same("decode keypoints", keypoints, z["decode_out_keypoints"], path.name)
        posekit_reference.assert_same("decode scores", scores, z["decode_out_scores"], path.name)
        # batch_decode: each instance as a sample of its own gives the same numbers
        batch = codec.batch_decode(z["decode_in_simcc_x"], z["decode_in_simcc_y"])
        assert len(batch) == len(keypoints)
        for i, (kpts, score) in enumerate(batch):
            posekit_reference.assert_same(
                "batch_decode keypoints", kpts, z["decode_out_keypoints"][i : i + 1], path.name
            )
            if "decode_out_visibility" not in z.files:
                posekit_reference.assert_same(
                    "batch_decode scores", score, z["decode_out_scores"][i : i + 1], path.name
                )


def test_gaussian_labels_by_hand() -> None:
    codec = build("codec", {"type": "SimCCLabel", "input_size": (8, 6), "sigma": (1.0, 2.0), "simcc_split_ratio": 2.0})
    keypoints = np.array([[[2.2, 3.0], [40.0, 1.0], [1.0, 1.0]]], np.float32)
    encoded = codec.encode(keypoints, np.array([[1.0, 1.0, 0.3]], np.float32))
    x, y = encoded["keypoint_x_labels"], encoded["keypoint_y_labels"]
    assert x.shape == (1, 3, 16) and y.shape == (1, 3, 12)
    # x bin round(4.4) = 4, y bin 6; normalized by sigma * sqrt(2 pi)
    np.testing.assert_allclose(x[0, 0], np.exp(-((np.arange(16) - 4) ** 2) / 2) / np.sqrt(2 * np.pi), rtol=1e-6)
    np.testing.assert_allclose(y[0, 0], np.exp(-((np.arange(12) - 6) ** 2) / 8) / (2 * np.sqrt(2 * np.pi)), rtol=1e-6)
    # x bin 80: 3 sigma beyond the last bin -> weight 0; visibility 0.3 < 0.5 -> no label, weight kept
    np.testing.assert_allclose(encoded["keypoint_weights"], [[1.0, 0.0, 0.3]])
    assert not x[0, 1:].any() and not y[0, 1:].any()
    keypoints_out, _ = codec.decode_targets(encoded)
    np.testing.assert_allclose(keypoints_out[0, 0], [2.0, 3.0])
    np.testing.assert_allclose(keypoints_out[0, 1:], -0.5)  # no response: -1 bins / split ratio


def test_standard_labels_with_smoothing_by_hand() -> None:
    codec = build(
        "codec",
        {
            "type": "SimCCLabel",
            "input_size": (4, 3),
            "smoothing_type": "standard",
            "simcc_split_ratio": 1.0,
            "label_smooth_weight": 0.3,
        },
    )
    encoded = codec.encode(np.array([[[1.0, 2.0], [4.0, 0.0]]], np.float32))
    np.testing.assert_allclose(encoded["keypoint_x_labels"][0, 0], [0.1, 0.7, 0.1, 0.1])
    np.testing.assert_allclose(encoded["keypoint_y_labels"][0, 0], [0.15, 0.15, 0.7])
    assert not encoded["keypoint_x_labels"][0, 1].any()  # x bin 4 == Wx: outside
    np.testing.assert_array_equal(encoded["keypoint_weights"], [[1.0, 0.0]])


def test_dark_and_visibility_decoding() -> None:
    codec = build(
        "codec",
        {"type": "SimCCLabel", "input_size": (64, 48), "sigma": 3.0, "use_dark": True, "decode_visibility": True},
    )
    keypoints = np.array([[[20.3, 30.7], [40.0, 11.2]]], np.float32)
    encoded = codec.encode(keypoints)
    # DARK refines a Gaussian centred on a whole bin back to that bin; visibility is a softmax peak
    decoded, (_, visibility) = codec.decode(encoded["keypoint_x_labels"], encoded["keypoint_y_labels"])
    np.testing.assert_allclose(decoded, np.around(keypoints * 2) / 2, atol=1e-3)
    assert ((visibility > 0) & (visibility <= 1)).all()
    decoded_2d, _ = codec.decode(encoded["keypoint_x_labels"][0], encoded["keypoint_y_labels"][0])
    np.testing.assert_array_equal(decoded_2d, decoded)


def test_bad_input() -> None:
    codec = build("codec", {"type": "SimCCLabel", "input_size": (192, 256)})
    with pytest.raises(ValueError, match=r"keypoints: expected a numeric array of shape \(N, K, 2\), got .*\(17, 2\)"):
        codec.encode(np.zeros((17, 2), np.float32))
    with pytest.raises(ValueError, match=r"simcc_y: expected .*\(1, 17, 512\), got .*\(1, 17, 384\)"):
        codec.decode(np.zeros((1, 17, 384), np.float32), np.zeros((1, 17, 384), np.float32))
    with pytest.raises(ValueError, match=r"batch_simcc_x: expected .*\(B, K, 384\)"):
        codec.batch_decode(np.zeros((17, 384), np.float32), np.zeros((17, 512), np.float32))
    with pytest.raises(ConfigError, match="label_smooth_weight is only used"):
        build("codec", {"type": "SimCCLabel", "input_size": (8, 8), "label_smooth_weight": 0.1})


@pytest.mark.parametrize(
    "cfg",
    [
        {"type": "SimCCLabel", "input_size": (192, 256), "sigma": (4.9, 5.66), "normalize": False},
        {"type": "SimCCLabel", "input_size": (192, 256), "smoothing_type": "standard", "label_smooth_weight": 0.1},
    ],
)
def test_conformance(posekit_check, cfg: dict) -> None:
    posekit_check.codec(cfg)
