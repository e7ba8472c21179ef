"""AssociativeEmbedding against MMPose 1.3.2's reference cases; SPR by hand-computed cases and round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posekit.registry import build

#: cases written by MMPose 1.3.2 through benchmarks/fixtures/gen_fidelity.py (same layout as the shared ones)
FIXTURES = Path(__file__).parent / "fixtures"


def test_associative_embedding_matches_mmpose(posekit_reference: Any, shared: Path) -> None:
    for path in [
        *posekit_reference.codec_cases(shared, "AssociativeEmbedding"),
        *sorted(FIXTURES.glob("AssociativeEmbedding-*.npz")),
    ]:
        codec, z, _ = posekit_reference.assert_encode_matches(path)
        keypoints, scores, instance_scores = codec.batch_decode(
            z["decode_in_batch_heatmaps"], z["decode_in_batch_tags"]
        )
        assert len(keypoints) == len(scores) == len(instance_scores) == 1
        posekit_reference.assert_same("decode keypoints", keypoints[0], z["decode_out_keypoints"], path.name)
        posekit_reference.assert_same("decode scores", scores[0], z["decode_out_scores"], path.name)
        posekit_reference.assert_same(
            "decode instance_scores", instance_scores[0], z["decode_out_instance_scores"], path.name
        )


def test_associative_embedding_accepts_tensors_and_checks_shapes() -> None:
    import torch

    codec = build("codec", {"type": "AssociativeEmbedding", "input_size": (64, 64), "heatmap_size": (16, 16)})
    kpts = np.array([[[8.0, 8.0], [40.0, 20.0]], [[30.0, 50.0], [70.0, 10.0]]], np.float32)
    enc = codec.encode(kpts, np.array([[1, 1], [1, 0.4]], np.float32))
    # heatmap pixel (round(x / 4), round(y / 4)); outside the map or invisible -> not visible
    np.testing.assert_array_equal(
        enc["keypoint_indices"], [[[2 * 16 + 2, 1], [5 * 16 + 10, 1]], [[13 * 16 + 8, 1], [3 * 16 + 18, 0]]]
    )
    tags = np.zeros((1, 2, 16, 16), np.float32)
    out = codec.batch_decode(torch.from_numpy(enc["heatmaps"][None]), torch.from_numpy(tags))
    assert len(out[0]) == 1
    with pytest.raises(ValueError, match=r"batch_tags: expected a numeric array of shape \(1, L\*2, 16, 16\)"):
        codec.batch_decode(enc["heatmaps"][None], np.zeros((1, 2, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"keypoints: expected a numeric array of shape \(N, K, 2\)"):
        codec.encode(np.zeros((2, 3), np.float32))


def test_spr_encode_by_hand() -> None:
    codec = build(
        "codec",
        {"type": "SPR", "input_size": (32, 32), "heatmap_size": (16, 16), "sigma": 2.0, "minimal_diagonal_length": 1},
    )
    # one person, two keypoints at heatmap (4, 4) and (8, 6): root = (6, 5), diagonal = sqrt(16 + 4)
    kpts = np.array([[[8.0, 8.0], [16.0, 12.0]]], np.float32)
    enc = codec.encode(kpts)
    assert enc["heatmaps"].shape == (1, 16, 16)
    assert enc["heatmaps"][0, 5, 6] == 1.0
    np.testing.assert_allclose(enc["heatmaps"][0, 5, 7], np.exp(-1 / 8), rtol=1e-6)
    np.testing.assert_allclose(enc["heatmap_weights"][0, 15, 15], 0.1)
    assert enc["heatmap_weights"][0, 5, 6] == 1.0
    disp = enc["displacements"].reshape(2, 2, 16, 16)
    # displacements cover x, y in [int(r - sigma), int(r + sigma)) = [4, 8) x [3, 7)
    np.testing.assert_allclose(disp[0, :, 5, 6], [4 - 6, 4 - 5])
    np.testing.assert_allclose(disp[1, :, 3, 4], [8 - 4, 6 - 3])
    assert (disp[:, :, :3] == 0).all() and (disp[:, :, 7:] == 0).all() and (disp[:, :, :, 8:] == 0).all()
    weights = enc["displacement_weights"].reshape(2, 2, 16, 16)
    np.testing.assert_allclose(weights[0, 0, 5, 6], 1 / np.sqrt(20), rtol=1e-6)
    assert weights[0, 0, 2, 6] == 0


def test_spr_smaller_person_keeps_overlapping_pixels() -> None:
    codec = build(
        "codec",
        {"type": "SPR", "input_size": (32, 32), "heatmap_size": (32, 32), "sigma": 3.0, "minimal_diagonal_length": 1},
    )
    big = [[4.0, 4.0], [16.0, 16.0]]  # root (10, 10), diagonal ~17
    small = [[11.0, 10.0], [13.0, 12.0]]  # root (12, 11), diagonal ~2.8
    for order in ((big, small), (small, big)):
        enc = codec.encode(np.array(order, np.float32))
        disp = enc["displacements"].reshape(2, 2, 32, 32)
        # pixel (12, 11) lies in both windows: it points at the small person's keypoints
        np.testing.assert_allclose(disp[:, :, 11, 12], np.array(small) - [12, 11])
        # pixel (7, 7) is only in the big person's window
        np.testing.assert_allclose(disp[:, :, 7, 7], np.array(big) - [7, 7])


def test_spr_decode_by_hand() -> None:
    codec = build("codec", {"type": "SPR", "input_size": (32, 32), "heatmap_size": (8, 8), "decode_thr": 0.1})
    heatmaps = np.zeros((1, 8, 8), np.float32)
    heatmaps[0, 2, 3] = 0.9  # root at (3, 2)
    heatmaps[0, 6, 6] = 0.5  # root at (6, 6)
    heatmaps[0, 6, 5] = 0.4  # suppressed by the NMS
    heatmaps[0, 0, 7] = 0.05  # below decode_thr
    displacements = np.zeros((4, 8, 8), np.float32)
    displacements[:, 2, 3] = [1, -1, 0.5, 2]
    displacements[:, 6, 6] = [-2, 0, 0, 1]
    keypoints, (root_scores, keypoint_scores) = codec.decode(heatmaps, displacements)
    assert keypoint_scores is None
    np.testing.assert_allclose(root_scores, [0.9, 0.5])
    np.testing.assert_allclose(keypoints, np.array([[[4, 1], [3.5, 4]], [[4, 6], [6, 7]]]) * 4)


def test_spr_keypoint_scores_sample_the_heatmaps() -> None:
    codec = build(
        "codec",
        {
            "type": "SPR",
            "input_size": (16, 16),
            "heatmap_size": (8, 8),
            "sigma": (2.0, 1.0),
            "generate_keypoint_heatmaps": True,
        },
    )
    heatmaps = np.zeros((2, 8, 8), np.float32)
    heatmaps[0] = np.arange(8, dtype=np.float32)[None] / 10  # keypoint map: x / 10
    heatmaps[1, 3, 3] = 1.0  # root
    keypoints, (_, keypoint_scores) = codec.decode(heatmaps, np.zeros((2, 8, 8), np.float32))
    np.testing.assert_allclose(keypoints, [[[6.0, 6.0]]])
    # grid_sample with align_corners=False at x / (W - 1) * 2 - 1 reads x * W / (W - 1) - 0.5
    np.testing.assert_allclose(keypoint_scores, [[(3 * 8 / 7 - 0.5) / 10]], rtol=1e-6)


def test_spr_round_trip_keypoint_heatmaps() -> None:
    codec = build(
        "codec", {"type": "SPR", "input_size": (128, 128), "heatmap_size": (64, 64), "generate_keypoint_heatmaps": True}
    )
    kpts = np.array([[[20.0, 30.0], [40.0, 52.0], [60.0, 70.0]]], np.float32)
    enc = codec.encode(kpts)
    assert codec.sigma == (2.0, 1.0) and enc["heatmaps"].shape == (4, 64, 64)
    decoded, scores = codec.decode_targets(enc)
    np.testing.assert_allclose(decoded, kpts, atol=1e-4)
    assert scores.shape == (1, 3)


@pytest.mark.parametrize(
    "cfg",
    [
        {"type": "AssociativeEmbedding", "input_size": (256, 256), "heatmap_size": (64, 64), "sigma": 2.0},
        {"type": "AssociativeEmbedding", "input_size": (256, 256), "heatmap_size": (64, 64), "use_udp": True},
        {"type": "SPR", "input_size": (256, 256), "heatmap_size": (64, 64)},
        {
            "type": "SPR",
            "input_size": (256, 256),
            "heatmap_size": (64, 64),
            "sigma": (4.0, 2.0),
            "generate_keypoint_heatmaps": True,
        },
    ],
)
def test_codec_conformance(posekit_check, cfg: dict) -> None:
    posekit_check.codec(cfg)
    if cfg["type"] == "AssociativeEmbedding":
        posekit_check.codec(cfg, num_instances=3)
