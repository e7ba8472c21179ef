"""Synthetic Human3.6M-format motion as MMPose's Human36mDataset reads it; `posekit data synth --format h36m`."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from posekit_lifting.h36m_dataset import Human36mDataset
from posekit_lifting.synthetic import TEST_SUBJECTS, TRAIN_SUBJECTS, project, write_h36m_dataset

from posekit.cli import main


def test_h36m_files_match_the_human36m_format(tmp_path: Path, shared: Path) -> None:
    files = write_h36m_dataset(tmp_path, frames=8, seed=2)
    ref = np.load(shared / "data/h36m/test_h36m_body3d.npz")
    train = np.load(files["train"])
    for key in ref.files:
        assert train[key].dtype.kind == ref[key].dtype.kind, key
        assert train[key].shape[1:] == ref[key].shape[1:], key
    n = len(TRAIN_SUBJECTS) * 4 * 4 * 8
    assert train["S"].shape == (n, 17, 4) and train["part"].shape == (n, 17, 3)
    with open(files["cameras"], "rb") as f:
        cams = pickle.load(f)
    with open(shared / "data/h36m/cameras.pkl", "rb") as f:
        ref_cams = pickle.load(f)
    some = next(iter(ref_cams.values()))
    for cam in cams.values():
        assert cam.keys() == some.keys()
        assert all(np.shape(cam[k]) == np.shape(some[k]) for k in cam)
    # 2D = the camera's distorted projection of the world pose, S = its camera-space pose
    name = str(train["imgname"][40])
    subject, camera = name.split("/")[0], name.split("/")[-1].split(".")[1].split("_")[0]
    cam = cams[(subject, camera)]
    world = train["S"][40, :, :3] @ cam["R"].T + cam["T"][:, 0]
    xc, uv = project(cam, world)
    np.testing.assert_allclose(xc, train["S"][40, :, :3], atol=1e-9)
    np.testing.assert_allclose(uv, train["part"][40, :, :2], atol=1e-6)
    box = train["part"][40, :, :2]
    np.testing.assert_allclose(train["center"][40], (box.min(0) + box.max(0)) / 2)
    np.testing.assert_allclose(train["scale"][40], (box.max(0) - box.min(0)).max() * 1.2 / 200)
    test = np.load(files["test"])
    assert {str(x).split("/")[0] for x in test["imgname"]} == set(TEST_SUBJECTS)
    assert np.isfinite(train["S"]).all() and (train["S"][..., 2] > 1).all()
    again = write_h36m_dataset(tmp_path / "again", frames=8, seed=2)
    assert np.array_equal(np.load(again["train"])["part"], train["part"])


def test_h36m_loads_through_the_dataset(tmp_path: Path) -> None:
    write_h36m_dataset(tmp_path, frames=30, seed=0)
    ds = Human36mDataset(
        ann_file="annotation_body3d/fps50/h36m_train.npz",
        camera_param_file="annotation_body3d/cameras.pkl",
        data_root=str(tmp_path),
        seq_len=27,
        causal=False,
        pad_video_seq=True,
    )
    sample = ds[0]
    assert sample.keypoints.shape == (27, 17, 2) and sample.lifting_target.shape == (1, 17, 3)
    assert sample.camera_param is not None and sample.camera_param["w"] == 1000


def test_cli_finds_the_h36m_synthesizer_through_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "synth", "--format", "h36m", "--frames", "4", "--out", str(tmp_path)]) == 0
    assert "h36m_train.npz" in capsys.readouterr().out
    assert np.load(tmp_path / "annotation_body3d/fps50/h36m_test.npz")["S"].shape[1:] == (17, 4)
    fresh = str(tmp_path / "fresh")  # a folder holding no dataset yet: the options are what is refused
    assert main(["data", "synth", "--format", "h36m", "--num-train", "3", "--out", fresh]) != 0
    err = capsys.readouterr().err
    assert "--num-train is not an option of synthesizer 'h36m' (posekit-lifting); it takes --frames" in err
    assert main(["data", "synth", "--format", "h36m", "--frames", "0", "--out", fresh]) != 0
    assert "frames must be >= 1" in capsys.readouterr().err
