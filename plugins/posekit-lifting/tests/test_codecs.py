"""ImagePoseLifting / VideoPoseLifting against MMPose 1.3.2's reference cases, plus conformance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posekit.registry import build

CODECS = ("ImagePoseLifting", "VideoPoseLifting")
#: cases written by MMPose 1.3.2 through benchmarks/fixtures/gen_fidelity.py (same layout as the shared ones)
FIXTURES = Path(__file__).parent / "fixtures"


def _cases(shared: Path) -> list[Path]:
    files = sorted(p for name in CODECS for p in (shared / "fixtures/mmpose/codecs").glob(f"{name}-*.npz"))
    assert files, "no lifting codec fixtures under shared/fixtures/mmpose/codecs"
    return files + sorted(p for name in CODECS for p in FIXTURES.glob(f"{name}-*.npz"))


def _camera(raw: str) -> dict:
    cam = json.loads(raw)
    return {k: np.asarray(v) if isinstance(v, list) else v for k, v in cam.items()}


def test_lifting_codecs_match_mmpose(posekit_reference: Any, shared: Path) -> None:
    for path in _cases(shared):
        z = np.load(path, allow_pickle=False)
        codec = build("codec", {"type": path.name.split("-")[0], **json.loads(str(z["kwargs"]))})
        extra = {}
        for key in z.files:
            if key.startswith("encode_in_") and key not in ("encode_in_keypoints", "encode_in_keypoints_visible"):
                arg = key.removeprefix("encode_in_")
                extra[arg] = _camera(str(z[key])) if arg == "camera_param" else z[key]
        encoded = codec.encode(z["encode_in_keypoints"], z["encode_in_keypoints_visible"], **extra)
        out_keys = {k.removeprefix("encode_out_") for k in z.files if k.startswith("encode_out_")}
        assert set(encoded) == out_keys, f"{path.name}: encode keys {sorted(encoded)} != {sorted(out_keys)}"
        for key in out_keys:
            ref = z[f"encode_out_{key}"]
            if key == "camera_param":
                for ck, cv in json.loads(str(ref)).items():
                    posekit_reference.assert_same(f"camera_param[{ck}]", encoded[key][ck], np.asarray(cv), path.name)
            else:
                posekit_reference.assert_same(key, encoded[key], ref, path.name)
        keypoints, scores = codec.decode(z["decode_in_encoded"], z["decode_in_target_root"])
        posekit_reference.assert_same("decode keypoints", keypoints, z["decode_out_keypoints"], path.name)
        posekit_reference.assert_same("decode scores", scores, z["decode_out_scores"], path.name)


def test_image_lifting_round_trip_with_normalization() -> None:
    rng = np.random.default_rng(0)
    k = 5
    cfg = {
        "type": "ImagePoseLifting",
        "num_keypoints": k,
        "root_index": 2,
        "remove_root": True,
        "save_index": True,
        "keypoints_mean": rng.random((k, 2)).tolist(),
        "keypoints_std": (1 + rng.random((k, 2))).tolist(),
        "target_mean": rng.random((k - 1, 3)).tolist(),
        "target_std": (1 + rng.random((k - 1, 3))).tolist(),
    }
    codec = build("codec", cfg)
    kpts = rng.random((1, k, 2)).astype(np.float32) * 100
    target = rng.random((1, k, 3)).astype(np.float32)
    enc = codec.encode(kpts, lifting_target=target)
    assert enc["target_root_index"] == 2 and enc["lifting_target_label"].shape == (1, k - 1, 3)
    assert enc["keypoint_labels"].shape == (2 * k, 1)
    np.testing.assert_allclose(enc["target_root"], target[:, 2])
    decoded, scores = codec.decode_targets(enc)
    np.testing.assert_allclose(decoded, target, rtol=1e-5, atol=1e-6)
    assert scores.shape == (1, k)


def test_video_lifting_camera_normalization() -> None:
    codec = build("codec", {"type": "VideoPoseLifting", "num_keypoints": 3, "normalize_camera": True})
    kpts = np.array([[[0.0, 0.0], [100.0, 50.0], [200.0, 100.0]]] * 4, np.float32)
    cam = {"w": 200, "h": 100, "f": np.array([[100.0], [100.0]]), "c": np.array([[100.0], [50.0]])}
    enc = codec.encode(kpts, camera_param=cam, lifting_target=np.ones((1, 3, 3), np.float32))
    labels = enc["keypoint_labels"]
    assert labels.shape == (6, 4)
    np.testing.assert_allclose(labels[:, 0], [-1, -0.5, 0, 0, 1, 0.5])
    np.testing.assert_allclose(enc["camera_param"]["f"], [[1.0], [1.0]])
    np.testing.assert_allclose(enc["camera_param"]["c"], [[0.0], [0.0]])
    assert cam["f"][0, 0] == 100.0  # the caller's camera is not modified
    with pytest.raises(ValueError, match="camera_param"):
        codec.encode(kpts, camera_param={"w": 200}, lifting_target=np.ones((1, 3, 3), np.float32))


@pytest.mark.parametrize("name", CODECS)
def test_bad_shapes_name_the_argument(name: str) -> None:
    codec = build("codec", {"type": name, "num_keypoints": 17})
    with pytest.raises(
        ValueError,
        match=r"keypoints: expected a numeric array of shape \(N, 17, D\), got an array of shape \(1, 16, 2\)",
    ):
        codec.encode(np.zeros((1, 16, 2), np.float32))
    with pytest.raises(ValueError, match="keypoints_visible"):
        codec.encode(np.zeros((1, 17, 2), np.float32), np.ones((2, 17), np.float32))
    with pytest.raises(ValueError, match="lifting_target"):
        codec.encode(np.zeros((1, 17, 2), np.float32), lifting_target=np.zeros((17, 3), np.float32))


@pytest.mark.parametrize("name", CODECS)
def test_codec_conformance(posekit_check, name: str) -> None:
    posekit_check.codec({"type": name, "num_keypoints": 17})
