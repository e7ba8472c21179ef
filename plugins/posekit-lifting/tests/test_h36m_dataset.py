"""Human36mDataset against MMPose's Human3.6M files (shared/data/h36m), its windows, and safe camera files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from posekit_lifting.h36m_dataset import Human36mDataset, video_windows

from posekit.datasets import AnnotationFileNotFoundError
from posekit.errors import DataError
from posekit.metainfo import load_metainfo


@pytest.fixture(scope="module")
def data(shared: Path) -> Path:
    return shared / "data"


H36M = "h36m/test_h36m_body3d.npz"


def test_h36m(data: Path) -> None:
    raw = np.load(data / H36M)
    ds = Human36mDataset(ann_file=H36M, data_root=str(data), camera_param_file="h36m/cameras.pkl")
    assert len(ds) == 4  # four single-frame videos
    s = ds[0]
    assert s.keypoints.shape == (1, 17, 2) and s.keypoints_visible.shape == (1, 17)
    np.testing.assert_array_equal(s.keypoints[0], raw["part"][0, :, :2].astype(np.float32))
    np.testing.assert_array_equal(s.lifting_target[0], raw["S"][0, :, :3].astype(np.float32))
    assert s.lifting_target.shape == (1, 17, 3) and s.lifting_target_visible.shape == (1, 17)
    cam = s.camera_param
    assert cam is not None and (cam["w"], cam["h"], cam["id"]) == (1000, 1002, "54138969")
    assert cam["f"].shape == (2, 1) and cam["f"][0, 0] == pytest.approx(1145.04940459)
    assert s.extra["img_paths"] == [str(raw["imgname"][0])] and s.img_id == 0
    assert s.extra["center"].tolist() == [raw["center"][0].astype(np.float32).tolist()]
    assert s.flip_indices == list(load_metainfo("h36m").flip_indices)


def test_h36m_windows(data: Path) -> None:
    ds = Human36mDataset(ann_file=H36M, data_root=str(data), seq_len=3, pad_video_seq=True)
    assert len(ds) == 4 and ds[1].keypoints.shape == (3, 17, 2) and ds[1].extra["img_ids"].tolist() == [1, 1, 1]
    assert len(Human36mDataset(ann_file=H36M, data_root=str(data), seq_len=3)) == 0  # no video has 3 frames
    det = np.load(data / "h36m/test_h36m_2d_detection.npy")
    detected = Human36mDataset(
        ann_file=H36M,
        data_root=str(data),
        keypoint_2d_src="detection",
        keypoint_2d_det_file="h36m/test_h36m_2d_detection.npy",
    )
    np.testing.assert_array_equal(detected[2].keypoints[0], det[2, :, :2].astype(np.float32))


def test_h36m_window_building() -> None:
    """Window frames within one video of 5 frames, as MMPose's get_sequence_indices builds them."""
    frames = [10, 11, 12, 13, 14]
    assert video_windows(frames, 3) == [[10, 11, 12], [11, 12, 13], [12, 13, 14]]
    assert video_windows(frames, 3, seq_step=2) == [[10, 12, 14]]
    padded = [[10, 10, 10], [10, 10, 11], [10, 11, 12], [11, 12, 13], [12, 13, 14]]
    assert video_windows(frames, 3, pad_video_seq=True) == padded
    centred = video_windows(frames, 3, causal=False, pad_video_seq=True)
    assert centred[0] == [10, 10, 11] and centred[-1] == [13, 14, 14] and len(centred) == 5
    assert video_windows(frames, 3, seq_step=2, causal=False, pad_video_seq=True)[0] == [10, 10, 12]
    assert video_windows(frames, multiple_target=2) == [[10, 11], [12, 13]]
    assert video_windows(frames, multiple_target=2, multiple_target_step=1) == [[10, 11], [11, 12], [12, 13], [13, 14]]


def test_h36m_camera_pickle_cannot_run_code(data: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "cameras.pkl"
    evil.write_bytes(pickle.dumps({("S1", "54138969"): Evil()}))
    with pytest.raises(DataError, match=r"cameras.pkl: refusing to unpickle .*system"):
        Human36mDataset(ann_file=str(data / H36M), camera_param_file=str(evil))
    assert not marker.exists()


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(AnnotationFileNotFoundError, match=r"nope.npz"):
        Human36mDataset(ann_file=str(tmp_path / "nope.npz"))


def test_h36m_bad_arrays(data: Path, tmp_path: Path) -> None:
    raw = dict(np.load(data / H36M))
    raw["S"] = raw["S"].copy()
    raw["S"][2, 5, 0] = np.nan
    path = tmp_path / "h36m.npz"
    np.savez(path, **raw)
    with pytest.raises(DataError, match=rf"{path}: 'S' of frame 2 \(S7/S7_Greeting.*\) holds NaN"):
        Human36mDataset(ann_file=str(path))
    raw["S"] = raw["S"][:, :16]
    np.savez(path, **raw)
    with pytest.raises(DataError, match=r"'S' has shape \(4, 16, 4\), expected \(4, 17, 4\)"):
        Human36mDataset(ann_file=str(path))
    with pytest.raises(DataError, match=r"cameras.pkl has no camera \('S1', '54138969'\)"):
        empty = tmp_path / "cameras.pkl"
        empty.write_bytes(pickle.dumps({}))
        Human36mDataset(ann_file=str(data / H36M), camera_param_file=str(empty))
