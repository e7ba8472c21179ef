"""Serving a pose lifter: 2D keypoint sequences in (``posekit infer``'s JSON), 3D people and plots out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from posekit.errors import ConfigError
from posekit.inference import Inferencer, PoseInstance

MODEL = "videopose3d-27frm-c256_h36m"


def test_lifting_matches_the_fixture_window_and_writes_plots(shared: Path, tmp_path: Path) -> None:
    """A 27-frame track whose encoded window is the fixture's input gives the fixture's head output."""
    folder = shared / "fixtures/mmpose/models/videopose3d-27frm-c256_h36m"
    config = json.loads((folder / "config.json").read_text())
    inputs = np.load(folder / "input.npy")[0]  # (34, 27): channel 2k + d, normalized by the image
    ref = np.load(folder / "head_out.npz")["coords"][0]
    # image size (2, 2): the codec maps x to (x - 1) / 1, so pixels = normalized + 1
    kpts = inputs.reshape(17, 2, 27).transpose(2, 0, 1) + 1.0
    frames = [
        [PoseInstance(keypoints=k, keypoint_scores=np.ones(17, np.float32), bbox=np.zeros(4, np.float32), track_id=0)]
        for k in kpts
    ]
    inferencer = Inferencer(config, folder / "checkpoint.pth")
    lifted = inferencer.lift(frames, (2, 2), {"dataset_name": "h36m"})
    got = lifted[13][0].keypoints  # the centered window of frame 13 is the whole sequence
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert err <= 1e-4, f"{folder / 'head_out.npz'}: lifted keypoints differ by {err:.2e} of the scale"
    # the JSON round trip: posekit infer's own output in, 3D JSON and one plot per frame out
    source = tmp_path / "clip.json"
    source.write_text(
        json.dumps(
            {
                "width": 2,
                "height": 2,
                "dataset_name": "h36m",
                "frames": [{"instances": [p.to_json() for p in f]} for f in frames],
            }
        )
    )
    written = inferencer.run(source, tmp_path / "out")
    record = json.loads(written[0].read_text())
    assert record["keypoints_3d"] and len(record["frames"]) == 27
    assert np.asarray(record["frames"][13]["instances"][0]["keypoints"]).shape == (17, 3)
    assert len([p for p in written if p.suffix == ".png"]) == 27


def test_coco_to_h36m_conversion() -> None:
    from posekit_lifting.serving import convert_keypoints

    coco = np.arange(34, dtype=np.float32).reshape(17, 2)
    h36m, scores = convert_keypoints(coco, np.ones(17, np.float32), "coco", "h36m")
    np.testing.assert_allclose(h36m[0], (coco[11] + coco[12]) / 2)
    np.testing.assert_allclose(h36m[7], (coco[5] + coco[6] + coco[11] + coco[12]) / 4)
    np.testing.assert_allclose(h36m[[1, 2, 3, 9, 16]], coco[[12, 14, 16, 0, 10]])
    np.testing.assert_allclose(scores, 1.0)


def test_lifts_posekit_infer_coco_output(shared: Path, tmp_path: Path, coco_track: Callable[[int], Path]) -> None:
    """A 2D COCO track (as ``posekit infer`` writes it) is converted to Human3.6M and lifted frame by frame."""
    folder = shared / "fixtures/mmpose/models" / MODEL
    inferencer = Inferencer(json.loads((folder / "config.json").read_text()), folder / "checkpoint.pth")
    assert inferencer.kind == "keypoints"
    source = coco_track(6)
    written = inferencer.run(source, tmp_path / "lifted", draw=False)
    record = json.loads(written[0].read_text())
    assert [len(f["instances"]) for f in record["frames"]] == [1] * 6
    assert np.asarray(record["frames"][0]["instances"][0]["keypoints"]).shape == (17, 3)
    assert record["dataset_name"] == "h36m"
    with pytest.raises(ConfigError, match="serves 'keypoints' requests"):
        inferencer.predict_images([np.zeros((8, 8, 3), np.uint8)])
