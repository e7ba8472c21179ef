"""Inference against MMPose's end-to-end fixtures, plus folders, videos, boxes and drawing.

Reference: ``shared/fixtures/mmpose/models/<name>/e2e.json`` holds ``mmpose.apis.inference_topdown``
(MMPose 1.3.2, CPU) on real COCO images with the annotation boxes; keypoints must match within
0.05 px and scores within 1e-4 of their scale (``1e-4 * max|ref|``: the brief's tolerance for
outputs of deep random networks, whose HRNet heatmap maxima reach ~50).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

import posekit
from posekit.inference import Inferencer

TOPDOWN = ("rtmpose-t_coco-256x192", "simplebaseline-res18-narrow_coco-256x192", "hrnet-w18_coco-256x192")
KPT_TOL = 0.05  # pixels
SCORE_TOL = 1e-4  # times max|reference score|


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per case of each model's ``e2e.json`` (one per model, skipped, without the shared folder)."""
    if metafunc.definition.name != "test_inference_topdown_matches_mmpose":
        return
    root: Path | None = metafunc.config.getoption("posekit_shared")
    if root is None:
        params = [pytest.param(name, 0, id=name) for name in TOPDOWN]
    else:
        params = []
        for name in TOPDOWN:
            cases = json.loads((root / f"fixtures/mmpose/models/{name}/e2e.json").read_text())["cases"]
            params += [pytest.param(name, i, id=f"{name}-case{i}") for i in range(len(cases))]
    metafunc.parametrize(("name", "index"), params)


def _fixture(shared: Path, name: str) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    folder = shared / "fixtures/mmpose/models" / name
    return folder, json.loads((folder / "config.json").read_text()), json.loads((folder / "e2e.json").read_text())


def _check(case: dict[str, Any], keypoints: np.ndarray, scores: np.ndarray, where: str) -> None:
    ref_k = np.asarray(case["keypoints"], np.float32)
    ref_s = np.asarray(case["keypoint_scores"], np.float32)
    assert keypoints.shape == ref_k.shape, f"{where}: keypoints {keypoints.shape} vs fixture {ref_k.shape}"
    dk = float(np.abs(keypoints - ref_k).max())
    ds = float(np.abs(scores - ref_s).max() / np.abs(ref_s).max())
    assert dk <= KPT_TOL, f"{where}: keypoints differ from mmpose.apis.inference_topdown by {dk:.4f} px"
    assert ds <= SCORE_TOL, (
        f"{where}: keypoint scores differ from mmpose.apis.inference_topdown by {ds:.2e} of their scale"
    )


def test_inference_topdown_matches_mmpose(shared: Path, name: str, index: int) -> None:
    folder, config, e2e = _fixture(shared, name)
    case = e2e["cases"][index]
    model = posekit.init_model({**config, "test_cfg": case["test_cfg"]}, folder / "checkpoint.pth")
    results = posekit.inference_topdown(model, shared / case["image"], case["bboxes"], bbox_format=case["bbox_format"])
    assert [r.keypoints.shape for r in results] == [(17, 2)] * len(case["bboxes"])
    np.testing.assert_array_equal(np.stack([r.bbox for r in results]), np.asarray(case["bboxes"], np.float32))
    where = f"{folder / 'e2e.json'} case {index} (inference_topdown)"
    _check(case, np.stack([r.keypoints for r in results]), np.stack([r.keypoint_scores for r in results]), where)


@pytest.mark.parametrize("name", TOPDOWN)
def test_inferencer_batches_images_and_matches_mmpose(shared: Path, name: str) -> None:
    """All cases with the same test_cfg in one call: boxes of several images share forwards (batch 2)."""
    folder, config, e2e = _fixture(shared, name)
    for flip in (True, False):
        cases = [c for c in e2e["cases"] if c["test_cfg"]["flip_test"] == flip]
        if not cases:
            continue
        inferencer = Inferencer({**config, "test_cfg": cases[0]["test_cfg"]}, folder / "checkpoint.pth", batch_size=2)
        images = [cv2.imread(str(shared / c["image"])) for c in cases]
        boxes = [
            np.concatenate([np.asarray(c["bboxes"], np.float32), np.ones((len(c["bboxes"]), 1), np.float32)], 1)
            for c in cases
        ]
        for i, (case, people) in enumerate(zip(cases, inferencer.predict_images(images, boxes), strict=True)):
            where = f"{folder / 'e2e.json'} flip_test={flip} case {i} (Inferencer, BatchNorm folded, channels_last)"
            _check(case, np.stack([p.keypoints for p in people]), np.stack([p.keypoint_scores for p in people]), where)


def _optimized_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of a model after the inference rewrites (asserting they were applied)."""
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()), "BatchNorm left"
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs), "not channels_last"
    assert hasattr(model.extract_feat, "traces"), "backbone and neck not run as frozen traces"
    return model.state_dict()


def test_public_api_and_inferencer_run_the_same_optimized_model(shared: Path) -> None:
    """``init_model`` + ``inference_topdown`` (README's API) take the same fast path as ``Inferencer``."""
    folder, config, e2e = _fixture(shared, "rtmpose-t_coco-256x192")
    case = e2e["cases"][0]
    config = {**config, "test_cfg": case["test_cfg"]}
    model = posekit.init_model(config, folder / "checkpoint.pth")
    inferencer = Inferencer(config, folder / "checkpoint.pth")
    api, served = _optimized_state(model), _optimized_state(inferencer.model)
    assert api.keys() == served.keys() and all(torch.equal(api[k], served[k]) for k in api)
    raw = posekit.init_model(config, folder / "checkpoint.pth", optimize=False)  # the opt-out: the module as built
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in raw.modules())
    image = cv2.imread(str(shared / case["image"]))
    boxes = np.asarray(case["bboxes"], np.float32)
    by_api = posekit.inference_topdown(model, image, boxes, bbox_format=case["bbox_format"])
    (by_inferencer,) = inferencer.predict_images([image], [np.concatenate([boxes, np.ones((len(boxes), 1))], 1)])
    np.testing.assert_array_equal(
        np.stack([p.keypoints for p in by_api]), np.stack([p.keypoints for p in by_inferencer])
    )


def test_whole_image_when_no_boxes_and_bad_boxes(shared: Path) -> None:
    folder, config, _ = _fixture(shared, "rtmpose-t_coco-256x192")
    model = posekit.init_model(config, folder / "checkpoint.pth")
    img = cv2.imread(str(shared / "data/coco/000000000785.jpg"))
    assert type(posekit.init_model({"model": config})) is type(model)  # an experiment mapping works too
    (person,) = posekit.inference_topdown(model, img)
    np.testing.assert_array_equal(person.bbox, [0, 0, img.shape[1], img.shape[0]])
    xywh = posekit.inference_topdown(model, img, [[10, 20, 100, 200]], bbox_format="xywh")
    np.testing.assert_array_equal(xywh[0].bbox, [10, 20, 110, 220])
    with pytest.raises(ValueError, match=r"bboxes: expected shape \(N, 4\) or \(N, 5\).*\(1, 3\)"):
        posekit.inference_topdown(model, img, [[1, 2, 3]])
    with pytest.raises(posekit.DataError, match=r"nope\.jpg"):
        posekit.inference_topdown(model, shared / "data/coco/nope.jpg")


def _folder_with_images(shared: Path, tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("000000000785.jpg", "000000040083.jpg"):
        (images / name).write_bytes((shared / "data/coco" / name).read_bytes())
    return images


def test_folder_writes_json_and_drawings(shared: Path, tmp_path: Path) -> None:
    folder, config, _ = _fixture(shared, "rtmpose-t_coco-256x192")
    inferencer = Inferencer(config, folder / "checkpoint.pth", batch_size=3)
    out = tmp_path / "out"
    written = inferencer.run(_folder_with_images(shared, tmp_path), out, boxes=shared / "data/coco/test_coco.json")
    assert sorted(p.name for p in written) == sorted(
        ["000000000785.json", "000000000785.jpg", "000000040083.json", "000000040083.jpg"]
    )
    gt = json.loads((shared / "data/coco/test_coco.json").read_text())
    ids = {img["file_name"]: img["id"] for img in gt["images"]}
    for stem in ("000000000785", "000000040083"):
        record = json.loads((out / "predictions" / f"{stem}.json").read_text())
        n = sum(1 for a in gt["annotations"] if a["image_id"] == ids[f"{stem}.jpg"] and not a.get("iscrowd", 0))
        assert len(record["instances"]) == n
        assert record["keypoint_names"][:3] == ["nose", "left_eye", "right_eye"]
        assert np.asarray(record["instances"][0]["keypoints"]).shape == (17, 2)
        drawn = cv2.imread(str(out / "vis" / f"{stem}.jpg"))
        assert drawn.shape == cv2.imread(str(shared / "data/coco" / f"{stem}.jpg")).shape


def _write_video(path: Path, frame: np.ndarray, count: int, shift: int = 3) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (frame.shape[1], frame.shape[0]))
    for i in range(count):
        writer.write(np.roll(frame, i * shift, axis=1))
    writer.release()


class FixedDetector:
    """A detector returning one box (shifted with the video's motion) and counting its calls."""

    def __init__(self, box: tuple[float, float, float, float]) -> None:
        self.box = np.asarray(box, np.float32)
        self.calls = 0

    def __call__(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.box[None], np.array([0.9], np.float32)


def test_video_writes_json_and_drawn_video(shared: Path, tmp_path: Path) -> None:
    folder, config, _ = _fixture(shared, "rtmpose-t_coco-256x192")
    frame = cv2.imread(str(shared / "data/coco/000000000785.jpg"))
    video = tmp_path / "clip.avi"
    _write_video(video, frame, 6)
    detector = FixedDetector((280.8, 44.7, 499.5, 391.4))
    inferencer = Inferencer(config, folder / "checkpoint.pth", detector=detector, det_interval=3, smooth=True)
    out = tmp_path / "out"
    written = inferencer.run(video, out)
    assert {p.name for p in written} == {"clip.json", "clip.mp4"}
    record = json.loads((out / "predictions/clip.json").read_text())
    assert record["fps"] == pytest.approx(10.0) and len(record["frames"]) == 6
    assert detector.calls == 2  # frames 0 and 3; boxes carried from keypoints in between
    assert all(len(f["instances"]) == 1 and f["instances"][0]["track_id"] == 0 for f in record["frames"])
    capture = cv2.VideoCapture(str(out / "vis/clip.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    capture.release()


def test_video_boxes_by_frame_index(shared: Path, tmp_path: Path) -> None:
    folder, config, _ = _fixture(shared, "rtmpose-t_coco-256x192")
    frame = cv2.imread(str(shared / "data/coco/000000040083.jpg"))
    video = tmp_path / "clip.avi"
    _write_video(video, frame, 3, shift=0)
    boxes = tmp_path / "boxes.json"
    two = [[38.1, 110.9, 212.8, 285.7, 0.9], [257.8, 139.1, 397.8, 293.3, 0.8]]
    boxes.write_text(json.dumps({"0": two, "1": two[:1], "2": []}))
    written = Inferencer(config, folder / "checkpoint.pth").run(video, tmp_path / "out", boxes=boxes, draw=False)
    record = json.loads(written[0].read_text())
    assert [len(f["instances"]) for f in record["frames"]] == [2, 1, 0]
    assert [p["track_id"] for p in record["frames"][0]["instances"]] == [0, 1]
    assert record["frames"][1]["instances"][0]["track_id"] == 0


def test_one_euro_smooths_jitter_and_follows_steps() -> None:
    from posekit.inference import OneEuroFilter

    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    noisy = 100 + rng.normal(0, 2, (60, 17, 2))
    smooth = np.stack([f(x, t / 30) for t, x in enumerate(noisy)])
    assert smooth[10:].std() < 0.5 * noisy[10:].std()
    g = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    step = [g(np.full((17, 2), 0.0 if t < 5 else 200.0), t / 30) for t in range(40)]
    assert abs(step[-1] - 200).max() < 1.0


def test_box_file_formats(tmp_path: Path) -> None:
    from posekit.inference.sources import BoxFile

    dets = BoxFile(
        [
            {"image_id": 785, "bbox": [10, 20, 30, 40], "score": 0.8, "category_id": 1},
            {"image_id": 785, "bbox": [0, 0, 1, 1], "category_id": 3},
        ]
    )
    np.testing.assert_allclose(dets.boxes_for(Path("x/000000000785.jpg")), [[10, 20, 40, 60, 0.8]])
    assert dets.boxes_for(Path("000000000001.jpg")) is None
    listed = BoxFile([[1, 2, 3, 4]])
    np.testing.assert_allclose(listed.boxes_for(7), [[1, 2, 3, 4, 1]])
    with pytest.raises(posekit.DataError, match=r"entry 'a.jpg'.*shape \(1, 3\)"):
        BoxFile({"a.jpg": [[1, 2, 3]]}, "boxes.json")


def test_drawing_scales_with_image_size() -> None:
    from posekit.metainfo import load_metainfo
    from posekit.visualization import draw_poses

    meta = load_metainfo("coco").to_dataset_meta()
    kpts = np.array([[[0.2, 0.2], [0.4, 0.2], [0.3, 0.5]]] * 1)
    kpts = np.concatenate([kpts, np.full((1, 14, 2), 0.5)], axis=1)  # 17 keypoints
    scores = np.ones((1, 17), np.float32)
    painted = []
    for size in (320, 1280):
        img = np.zeros((size, size, 3), np.uint8)
        painted.append(int((draw_poses(img, kpts * size, scores, meta) > 0).any(axis=2).sum()))
    ratio = painted[1] / painted[0]
    assert 8 < ratio < 24  # area grows about 16x when the image is 4x larger


def test_optimized_and_bf16_paths(shared: Path) -> None:
    folder, config, e2e = _fixture(shared, "rtmpose-t_coco-256x192")
    case = e2e["cases"][0]
    img = cv2.imread(str(shared / case["image"]))
    boxes = np.asarray(case["bboxes"], np.float32)
    plain = Inferencer({**config, "test_cfg": case["test_cfg"]}, folder / "checkpoint.pth", optimize=False)
    bf16 = Inferencer({**config, "test_cfg": case["test_cfg"]}, folder / "checkpoint.pth", precision="bf16")
    a, b = plain(img, boxes)[0], bf16(img, boxes)[0]
    _check(case, a.keypoints[None], a.keypoint_scores[None], f"{folder / 'e2e.json'} case 0 (unoptimized)")
    # bf16 (random weights, near-flat SimCC responses): argmaxes may move, scores stay close
    assert b.keypoints.shape == (17, 2) and np.isfinite(b.keypoints).all()
    assert np.abs(a.keypoint_scores - b.keypoint_scores).max() <= 0.15 * np.abs(a.keypoint_scores).max()
    assert torch.get_default_dtype() == torch.float32


def test_compiled_path_matches_mmpose(shared: Path) -> None:
    """``compile=True`` (TorchInductor, frozen weights) keeps the fixture numbers, flip test on and off."""
    folder, config, e2e = _fixture(shared, "rtmpose-t_coco-256x192")
    for index, case in enumerate(e2e["cases"]):
        if index == 1:
            continue  # case 0 has flip test on, case 2 off
        img = cv2.imread(str(shared / case["image"]))
        compiled = Inferencer({**config, "test_cfg": case["test_cfg"]}, folder / "checkpoint.pth", compile=True)
        people = compiled(img, np.asarray(case["bboxes"], np.float32))
        where = f"{folder / 'e2e.json'} case {index} (compiled)"
        _check(case, np.stack([p.keypoints for p in people]), np.stack([p.keypoint_scores for p in people]), where)


def test_cli_infer_image_with_boxes(shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main

    folder = shared / "fixtures/mmpose/models/rtmpose-t_coco-256x192"
    image = shared / "data/coco/000000000785.jpg"
    args = ["infer", str(folder / "config.json"), "--checkpoint", str(folder / "checkpoint.pth"), "--input", str(image)]
    assert main([*args, "--out", str(tmp_path), "--bbox", "280.79", "44.73", "499.49", "391.41", "--no-flip-test"]) == 0
    assert "wrote 2 file(s)" in capsys.readouterr().out
    record = json.loads((tmp_path / "predictions/000000000785.json").read_text())
    assert record["instances"][0]["bbox"] == pytest.approx([280.79, 44.73, 499.49, 391.41], abs=1e-3)
    assert main([*args, "--out", str(tmp_path), "--boxes", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
