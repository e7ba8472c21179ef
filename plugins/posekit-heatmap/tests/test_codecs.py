"""Heatmap codecs against MMPose 1.3.2's reference cases, MMPose's per-keypoint loops and hand values.

Reference cases: shared/fixtures/mmpose/codecs/<Codec>-<tag>.npz, written by MMPose 1.3.2's
``codec.encode(keypoints, keypoints_visible)`` and ``codec.decode(heatmaps)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from posekit.codec_utils import get_heatmap_maximum, refine_keypoints_dark, refine_keypoints_dark_udp
from posekit.registry import build

#: cases written by MMPose 1.3.2 through benchmarks/fixtures/gen_fidelity.py (same layout as the shared ones)
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["MSRAHeatmap", "UDPHeatmap"])
def test_matches_mmpose(posekit_reference: Any, shared: Path, name: str) -> None:
    for path in [*posekit_reference.codec_cases(shared, name), *sorted(FIXTURES.glob(f"{name}-*.npz"))]:
        codec, z, encoded = posekit_reference.assert_encode_matches(path)
        keypoints, scores = codec.decode(z["decode_in_encoded"])
        posekit_reference.assert_same("decode keypoints", keypoints, z["decode_out_keypoints"], path.name)
        posekit_reference.assert_same("decode scores", scores, z["decode_out_scores"], path.name)
        # the batched path gives every sample the same numbers
        batch = codec.batch_decode(np.stack([z["decode_in_encoded"], encoded["heatmaps"], z["decode_in_encoded"]]))
        assert len(batch) == 3
        posekit_reference.assert_same("batch_decode keypoints", batch[2][0], z["decode_out_keypoints"], path.name)
        posekit_reference.assert_same("batch_decode scores", batch[2][1], z["decode_out_scores"], path.name)
        posekit_reference.assert_same(
            "batch_decode keypoints", batch[1][0], codec.decode(encoded["heatmaps"])[0], path.name
        )


def _mmpose_blur(heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """MMPose's gaussian_blur: per map, zero-padded cv2 blur rescaled to the map's maximum."""
    n_kpt, height, width = heatmaps.shape
    blurred = np.empty_like(heatmaps)
    border = (kernel - 1) // 2
    for k in range(n_kpt):
        canvas = np.zeros((height + 2 * border, width + 2 * border), np.float32)
        canvas[border:-border, border:-border] = heatmaps[k]
        blurred[k] = cv2.GaussianBlur(canvas, (kernel, kernel), 0)[border:-border, border:-border]
        with np.errstate(invalid="ignore", divide="ignore"):
            blurred[k] *= heatmaps[k].max() / blurred[k].max()
    return blurred


def _mmpose_dark_loop(keypoints: np.ndarray, heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """MMPose's refine_keypoints_dark, one keypoint at a time."""
    logs = np.log(np.maximum(_mmpose_blur(heatmaps, kernel), 1e-10))
    out = keypoints.copy()
    height, width = heatmaps.shape[1:]
    for n, k in np.ndindex(*out.shape[:2]):
        x, y = out[n, k].astype(int)
        if 1 < x < width - 2 and 1 < y < height - 2:
            h = logs[k]
            dx, dy = 0.5 * (h[y, x + 1] - h[y, x - 1]), 0.5 * (h[y + 1, x] - h[y - 1, x])
            dxx = 0.25 * (h[y, x + 2] - 2 * h[y, x] + h[y, x - 2])
            dxy = 0.25 * (h[y + 1, x + 1] - h[y - 1, x + 1] - h[y + 1, x - 1] + h[y - 1, x - 1])
            dyy = 0.25 * (h[y + 2, x] - 2 * h[y, x] + h[y - 2, x])
            if dxx * dyy - dxy**2 != 0:
                out[n, k] -= np.linalg.inv(np.array([[dxx, dxy], [dxy, dyy]])) @ np.array([dx, dy])
    return out


def test_dark_refinement_matches_mmpose_loop_on_hard_maps() -> None:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:20, :16]
    heatmaps = np.exp(-((xx - 7.3) ** 2 + (yy - 9.6) ** 2) / 8)[None].repeat(5, 0).astype(np.float32)
    heatmaps[1] = -1 + rng.random((20, 16)) * 0.1  # negative background and a spike: blurred values < 1e-10
    heatmaps[1, 8, 6] = 5.0
    heatmaps[2] *= 1e-12  # tiny everywhere: the floor of 1e-10 clips the neighbourhood
    heatmaps[3, 1, 1] = 2.0  # peak too close to the border: not refined
    heatmaps[4] = 0  # no positive response
    keypoints, _ = get_heatmap_maximum(heatmaps)
    expected = _mmpose_dark_loop(keypoints[None], heatmaps, 11)
    np.testing.assert_allclose(refine_keypoints_dark(keypoints[None], heatmaps, 11), expected, rtol=1e-5, atol=1e-5)


def _mmpose_udp_dark_loop(keypoints: np.ndarray, heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """MMPose's per-sample refine_keypoints_dark_udp (flat index into the edge-padded maps)."""
    n_kpt, height, width = heatmaps.shape
    logs = np.log(np.clip(_mmpose_blur(heatmaps, kernel), 1e-3, 50.0))
    flat = np.pad(logs, ((0, 0), (1, 1), (1, 1)), mode="edge").flatten()
    out = keypoints.copy()
    for n in range(len(out)):
        index = out[n, :, 0] + 1 + (out[n, :, 1] + 1) * (width + 2)
        index = (index + (width + 2) * (height + 2) * np.arange(n_kpt)).astype(int).reshape(-1, 1)
        i_, ix1, iy1 = flat[index], flat[index + 1], flat[index + width + 2]
        ix1y1, ix1_y1_ = flat[index + width + 3], flat[index - width - 3]
        ix1_, iy1_ = flat[index - 1], flat[index - 2 - width]
        derivative = np.concatenate([0.5 * (ix1 - ix1_), 0.5 * (iy1 - iy1_)], axis=1).reshape(n_kpt, 2, 1)
        dxx = ix1 - 2 * i_ + ix1_
        dyy = iy1 - 2 * i_ + iy1_
        dxy = 0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
        hessian = np.concatenate([dxx, dxy, dxy, dyy], axis=1).reshape(n_kpt, 2, 2)
        hessian = np.linalg.inv(hessian + np.finfo(np.float32).eps * np.eye(2))
        out[n] -= np.einsum("imn,ink->imk", hessian, derivative).squeeze()
    return out


def test_udp_refinement_matches_mmpose_loop_on_empty_and_border_maps() -> None:
    rng = np.random.default_rng(0)
    heatmaps = rng.random((4, 12, 10), dtype=np.float32) * 0.2
    heatmaps[0] = 0  # no positive response: maximum at -1, MMPose reads across channels
    heatmaps[1] = -1
    heatmaps[2, 0, 9] = 2.0  # peak in the top-right corner
    keypoints = np.array([[[-1, -1], [-1, -1], [9, 0], [4, 7]]], np.float32)
    expected = _mmpose_udp_dark_loop(keypoints, heatmaps, 5)
    np.testing.assert_allclose(refine_keypoints_dark_udp(keypoints, heatmaps, 5), expected, rtol=1e-5, atol=1e-6)
    # batched form: (B, K, 2) with (B, K, H, W)
    batch = refine_keypoints_dark_udp(np.concatenate([keypoints] * 2), np.stack([heatmaps] * 2), 5)
    np.testing.assert_allclose(batch[1], expected[0], rtol=1e-5, atol=1e-6)


def test_udp_combined_round_trip() -> None:
    codec = build(
        "codec",
        {"type": "UDPHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64), "heatmap_type": "combined"},
    )
    keypoints = np.array([[[40.0, 80.0], [130.5, 141.0], [47.0, 63.0]]], np.float32)
    encoded = codec.encode(keypoints, np.array([[1.0, 1.0, 0.0]], np.float32))
    assert encoded["heatmaps"].shape == (9, 64, 48)
    np.testing.assert_array_equal(encoded["keypoint_weights"], [[1.0, 1.0, 0.0]])
    assert not encoded["heatmaps"][6:].any()  # the unlabelled keypoint has empty maps
    decoded, scores = codec.decode_targets(encoded)
    # the offsets read at the blurred label maximum restore the exact heatmap location, which MMPose
    # maps back by input_size / (heatmap_size - 1) (encoding used (input_size - 1) / (heatmap_size - 1))
    expected = keypoints[0, :2] * [47 / 191, 63 / 255] / [47, 63] * [192, 256]
    np.testing.assert_allclose(decoded[0, :2], expected, rtol=1e-5)
    assert scores[0, 2] == 0
    batch = codec.batch_decode(np.stack([encoded["heatmaps"]] * 2))
    np.testing.assert_array_equal(batch[1][0], decoded)


def test_megvii_encode_and_decode_by_hand() -> None:
    codec = build(
        "codec", {"type": "MegviiHeatmap", "input_size": (48, 64), "heatmap_size": (12, 16), "kernel_size": 5}
    )
    keypoints = np.array([[[22.0, 30.0], [5.0, 5.0], [100.0, 4.0]]], np.float32)
    encoded = codec.encode(keypoints, np.array([[1.0, 1.0, 1.0]], np.float32))
    heatmaps = encoded["heatmaps"]
    np.testing.assert_array_equal(encoded["keypoint_weights"], [[1.0, 1.0, 0.0]])  # x = 25 > 12: outside
    g = cv2.getGaussianKernel(5, 0).ravel()  # 1/16 * [1, 4, 6, 4, 1]
    # keypoint 0 at heatmap pixel (5, 7): 255 at the pixel, 255 * g[1] / g[2] one pixel away
    assert heatmaps[0, 7, 5] == pytest.approx(255.0)
    assert heatmaps[0, 7, 6] == pytest.approx(255.0 * g[1] / g[2], rel=1e-6)
    assert heatmaps[0, 9, 7] == pytest.approx(255.0 * (g[0] / g[2]) ** 2, rel=1e-6)
    # keypoint 1 at (1, 1): the reflect-101 border folds the kernel's tail back, so pixel 1 holds
    # g[2] + g[0] and pixel 0 holds g[1] + g[3] per axis
    fold = 2 * g[1] / (g[2] + g[0])
    assert heatmaps[1, 1, 1] == pytest.approx(255.0)
    assert heatmaps[1, 1, 0] == pytest.approx(255.0 * fold, rel=1e-6)
    assert heatmaps[1, 0, 0] == pytest.approx(255.0 * fold**2, rel=1e-6)
    assert not heatmaps[2].any()
    decoded, scores = codec.decode_targets(encoded)
    # the blurred peak stays on the pixel; symmetric neighbours give no quarter step, +0.5 centres it
    np.testing.assert_allclose(decoded[0, 0], [(5 + 0.5) * 4, (7 + 0.5) * 4])
    assert scores[0, 0] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("cfg", "heatmap_shape"),
    [
        ({"type": "MSRAHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64), "sigma": 2.0}, (17, 64, 48)),
        ({"type": "UDPHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64)}, (17, 64, 48)),
        (
            {"type": "MegviiHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64), "kernel_size": 11},
            (17, 64, 48),
        ),
    ],
)
def test_bad_shapes_name_the_argument(cfg: dict, heatmap_shape: tuple[int, ...]) -> None:
    codec = build("codec", cfg)
    with pytest.raises(
        ValueError, match=r"keypoints: expected a numeric array of shape \(1, K, 2\), got .*\(2, 17, 2\)"
    ):
        codec.encode(np.zeros((2, 17, 2), np.float32))
    with pytest.raises(ValueError, match=r"keypoints_visible: expected .*\(1, 17\), got .*\(17,\)"):
        codec.encode(np.zeros((1, 17, 2), np.float32), np.ones(17, np.float32))
    with pytest.raises(
        ValueError, match=r"encoded: expected a numeric array of shape \(\w, 64, 48\), got .*\(17, 48, 64\)"
    ):
        codec.decode(np.zeros((17, 48, 64), np.float32))
    with pytest.raises(ValueError, match=r"batch_encoded: expected .*\(B, \w, 64, 48\), got .*\(17, 64, 48\)"):
        codec.batch_decode(np.zeros(heatmap_shape, np.float32))


def test_config_errors() -> None:
    from posekit.errors import ConfigError

    with pytest.raises(ConfigError, match="heatmap_type"):
        build("codec", {"type": "UDPHeatmap", "input_size": (8, 8), "heatmap_size": (4, 4), "heatmap_type": "offset"})
    with pytest.raises(ConfigError, match="blur_kernel_size must be odd"):
        build(
            "codec",
            {"type": "MSRAHeatmap", "input_size": (8, 8), "heatmap_size": (4, 4), "sigma": 2.0, "blur_kernel_size": 4},
        )


@pytest.mark.parametrize(
    "cfg",
    [
        {"type": "MSRAHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64), "sigma": 2.0},
        {"type": "MSRAHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64), "sigma": 2.0, "unbiased": True},
        {"type": "UDPHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64)},
        {"type": "UDPHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64), "heatmap_type": "combined"},
        {"type": "MegviiHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64), "kernel_size": 11},
    ],
)
def test_conformance(posekit_check, cfg: dict) -> None:
    posekit_check.codec(cfg)
