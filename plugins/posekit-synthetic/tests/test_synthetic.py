"""Synthetic datasets: figures drawn where their keypoints say, flags true to the rendering, determinism, loading."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from posekit_synthetic.coco import OCCLUDER, render_scene, scene_rng, write_coco_dataset
from posekit_synthetic.figures import L_HIP, L_SHO, R_HIP, R_SHO, sample_figure

from posekit.cli import main


@pytest.fixture(scope="module")
def scenes() -> list:
    return [render_scene(scene_rng(3, "train", i)) for i in range(40)]


def test_visibility_flags_follow_the_rendering(scenes: list) -> None:
    seen = np.zeros(3, int)
    for scene in scenes:
        h, w = scene.labels.shape
        assert scene.image.shape == (h, w, 3) and scene.image.dtype == np.uint8
        xy = np.round(scene.keypoints).astype(int)
        for i, (pts, vis) in enumerate(zip(xy, scene.visible, strict=True)):
            inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
            assert ((vis == 0) == ~inside).all(), "flag 0 means outside the image"
            owner = scene.labels[pts[inside, 1], pts[inside, 0]]
            # visible keypoints lie on their own figure's pixels
            assert (owner[vis[inside] == 2] == i + 1).all()
            seen += np.bincount(vis, minlength=3)
            # a keypoint on its own pixels is either visible or a face point turned away (inside the head)
            covered = owner != i + 1
            assert (vis[inside][covered] == 1).all()
    assert seen[2] > 0.7 * seen.sum() and seen[1] > 0 and seen[0] > 0, seen
    assert any((s.labels == OCCLUDER).any() for s in scenes)


def test_visible_keypoints_sit_on_drawn_figures(scenes: list) -> None:
    """The image changed from the background under visible keypoints: a joint disk or face mark is there."""
    for scene in scenes:
        for pts, vis in zip(scene.keypoints, scene.visible, strict=True):
            for x, y in np.round(pts[vis == 2]).astype(int):
                assert scene.labels[y, x] != 0


def test_boxes_and_areas(scenes: list) -> None:
    heights = []
    for scene in scenes:
        for i, (box, area) in enumerate(zip(scene.bboxes, scene.areas, strict=True)):
            x, y, bw, bh = box
            h, w = scene.labels.shape
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and bw > 0 and bh > 0
            assert 0 < area <= bw * bh
            own = np.argwhere(scene.labels == i + 1)
            if len(own):  # what is still visible of the figure is inside its box
                assert own[:, 1].min() >= x and own[:, 1].max() < x + bw
                assert own[:, 0].min() >= y and own[:, 0].max() < y + bh
            heights.append(bh)
    heights = np.array(heights)
    assert 0.6 < ((heights >= 64) & (heights <= 210)).mean(), np.percentile(heights, [10, 50, 90])


def test_front_facing_figures_have_their_left_on_the_viewers_right() -> None:
    for seed in range(20):
        fig = sample_figure(np.random.default_rng(seed), 150.0, np.array([128.0, 128.0]), rotation=0.0)
        assert fig.keypoints[L_SHO, 0] > fig.keypoints[R_SHO, 0]
        assert fig.keypoints[L_HIP, 0] > fig.keypoints[R_HIP, 0]


def test_render_is_deterministic() -> None:
    a, b = render_scene(scene_rng(7, "val", 5)), render_scene(scene_rng(7, "val", 5))
    c = render_scene(scene_rng(8, "val", 5))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.keypoints, b.keypoints)
    assert np.array_equal(a.visible, b.visible) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.*"))}


def test_cli_writes_a_deterministic_coco_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["data", "synth", "--num-train", "6", "--num-val", "3", "--seed", "4", "--size", "192x160"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert "person_keypoints_train2017.json" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert len(list((tmp_path / "a" / "train2017").glob("*.jpg"))) == 6
    data = json.loads((tmp_path / "a/annotations/person_keypoints_val2017.json").read_text())
    assert [img["width"] for img in data["images"]] == [192] * 3
    assert data["categories"][0]["keypoints"][:3] == ["nose", "left_eye", "right_eye"]
    assert len(data["categories"][0]["skeleton"]) == 19
    train = json.loads((tmp_path / "a/annotations/person_keypoints_train2017.json").read_text())
    ids = [img["id"] for img in train["images"] + data["images"]]
    assert len(set(ids)) == len(ids), "image ids are unique across splits"
    for ann in data["annotations"]:
        kp = np.array(ann["keypoints"]).reshape(17, 3)
        assert ann["num_keypoints"] == (kp[:, 2] > 0).sum() > 0
        assert (kp[kp[:, 2] == 0, :2] == 0).all()
        assert ann["segmentation"] and all(len(p) >= 6 for p in ann["segmentation"])


def test_cli_rejects_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["data", "synth", "--out", "x", "--size", "256"])
    assert "WxH" in capsys.readouterr().err


@pytest.fixture(scope="module")
def coco_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    write_coco_dataset(out, num_train=12, num_val=4, seed=1, size=(256, 256))
    return out


def test_ground_truth_scores_ap_1_with_pycocotools(coco_dir: Path) -> None:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco_dir / "annotations/person_keypoints_train2017.json"))
        anns = gt.loadAnns(gt.getAnnIds())
        dt = gt.loadRes(
            [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0} for a in anns]
        )
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_loads_through_coco_dataset_and_pipeline(posekit_configs: Any, coco_dir: Path) -> None:
    from posekit.registry import build

    pipeline = posekit_configs.topdown_pipeline((192, 256), augment=True, half_body=True)
    ds = build(
        "dataset",
        {
            "type": "CocoDataset",
            "ann_file": "annotations/person_keypoints_train2017.json",
            "data_root": str(coco_dir),
            "data_prefix": {"img": "train2017/"},
            "pipeline": pipeline,
            "seed": 0,
        },
    )
    data = json.loads((coco_dir / "annotations/person_keypoints_train2017.json").read_text())
    assert len(ds) == len(data["annotations"])
    first, again = ds[0], ds[0]
    assert first.inputs.shape == (3, 256, 192)
    assert np.array_equal(first.inputs.numpy(), again.inputs.numpy())
    raw = ds.get_data_info(0)
    ann = data["annotations"][0]
    kp = np.array(ann["keypoints"], np.float32).reshape(17, 3)
    np.testing.assert_allclose(raw.keypoints[0], kp[:, :2])
    np.testing.assert_array_equal(raw.keypoints_visible[0], np.minimum(kp[:, 2], 1))
