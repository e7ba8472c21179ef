"""CocoDataset, CocoWholeBodyDataset and MpiiDataset on the shared sample files (real values checked), and bad
input that must be named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from posekit_datasets.coco import CocoDataset, CocoWholeBodyDataset
from posekit_datasets.mpii import MpiiDataset

from posekit.datasets import AnnotationFileNotFoundError
from posekit.errors import ConfigError, DataError
from posekit.metainfo import load_metainfo
from posekit.structures import PoseSample

COCO = "coco/test_coco.json"


@pytest.fixture(scope="module")
def data(shared: Path) -> Path:
    return shared / "data"


def f32(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


# ---- COCO ----


def test_coco_topdown(data: Path) -> None:
    ds = CocoDataset(ann_file=COCO, data_root=str(data), data_prefix={"img": "coco/"})
    assert len(ds) == 12  # 14 annotations, 2 without labelled keypoints
    ids = [ds[i].id for i in range(len(ds))]
    assert ids[:4] == [442619, 198196, 230195, 460541] and 1202706 not in ids and 508900 not in ids
    s = ds[0]
    assert isinstance(s, PoseSample) and s.img is None
    assert s.img_id == 785 and s.img_path == str(data / "coco/000000000785.jpg") and Path(s.img_path).is_file()
    assert s.ori_shape == (425, 640) and s.category_id == 1
    # [x, y, w, h] = [280.79, 44.73, 218.7, 346.68] -> xyxy in float32
    np.testing.assert_array_equal(s.bbox, f32([[280.79, 44.73, 280.79 + 218.7, 44.73 + 346.68]]))
    assert s.bbox.dtype == np.float32 and s.bbox_score.tolist() == [1.0]
    assert s.keypoints.shape == (1, 17, 2) and s.keypoints[0, 0].tolist() == [367.0, 81.0]
    assert s.keypoints_visible.shape == (1, 17) and s.keypoints_visible.max() == 1.0
    assert s.area == pytest.approx([27789.11055]) and s.num_keypoints.tolist() == [17] and s.iscrowd.tolist() == [0]
    assert s.flip_indices == list(load_metainfo("coco").flip_indices)
    assert s.upper_body_ids == list(range(11)) and s.lower_body_ids == list(range(11, 17))
    assert s.dataset_keypoint_weights is not None and s.dataset_keypoint_weights[9] == np.float32(1.5)
    assert s.extra["raw_ann_info"]["id"] == 442619 and s.extra["segmentation"] is not None
    assert s.bbox_center.shape == (0, 2)  # boxes, not center/scale, for COCO


def test_coco_boxes_match_mmpose_fixtures(shared: Path, data: Path) -> None:
    """The boxes MMPose's COCO dataset produced (pipeline/cases.json) for the same annotations."""
    by_id = {s.id: s for s in (CocoDataset(ann_file=str(data / COCO)).get_data_info(i) for i in range(12))}
    fixture = shared / "fixtures/mmpose/pipeline/cases.json"
    for case in json.loads(fixture.read_text())["cases"]:
        sample = by_id[case["ann_id"]]
        np.testing.assert_array_equal(sample.bbox[0], f32(case["bbox"]), err_msg=f"{fixture} ann {case['ann_id']}")
        np.testing.assert_array_equal(sample.keypoints[0], f32(case["keypoints"]), err_msg=str(fixture))
        np.testing.assert_array_equal(sample.keypoints_visible[0], f32(case["keypoints_visible"]))


def test_coco_bottomup(shared: Path, data: Path) -> None:
    ds = CocoDataset(ann_file=COCO, data_root=str(data), data_mode="bottomup")
    assert len(ds) == 4
    samples = [ds[i] for i in range(4)]
    assert [s.num_instances for s in samples] == [1, 3, 5, 5]
    assert [len(s.invalid_segs) for s in samples] == [0, 1, 1, 0]  # the annotations without keypoints
    s = samples[1]
    assert s.img_id == 40083 and s.id == -1 and s.extra["ids"] == [198196, 230195, 1202706]
    assert s.bbox.shape == (3, 4) and s.keypoints.shape == (3, 17, 2) and s.keypoints_visible.shape == (3, 17)
    assert s.num_keypoints.tolist() == [14, 15, 0] and s.area.shape == (3,)
    e2e = shared / "fixtures/mmpose/models/rtmpose-t_coco-256x192/e2e.json"
    case = next(c for c in json.loads(e2e.read_text())["cases"] if c["ann_ids"] == s.extra["ids"])
    np.testing.assert_array_equal(s.bbox, f32(case["bboxes"]), err_msg=str(e2e))


def test_coco_bottomup_test_mode_keeps_empty_images(data: Path, tmp_path: Path) -> None:
    content = json.loads((data / COCO).read_text())
    content["images"].append({"id": 1, "file_name": "none.jpg", "width": 10, "height": 10})
    ann = tmp_path / "extra.json"
    ann.write_text(json.dumps(content))
    assert len(CocoDataset(ann_file=str(ann), data_mode="bottomup")) == 4
    ds = CocoDataset(ann_file=str(ann), data_mode="bottomup", test_mode=True)
    empty = ds[4]
    assert len(ds) == 5 and empty.img_id == 1 and empty.num_instances == 0 and empty.keypoints.shape == (0, 17, 2)


def test_coco_detection_boxes(data: Path) -> None:
    det_file = data / "coco/test_coco_det_AP_H_56.json"
    dets = json.loads(det_file.read_text())
    ds = CocoDataset(ann_file=str(data / COCO), bbox_file=str(det_file), test_mode=True)
    assert len(ds) == len(dets) == 118
    s = ds[0]
    x, y, w, h = dets[0]["bbox"]
    np.testing.assert_array_equal(s.bbox, f32([[x, y, w, h]])[:, [0, 1, 0, 1]] + f32([[0, 0, w, h]]))
    assert s.bbox_score.tolist() == [np.float32(dets[0]["score"])] and s.img_id == dets[0]["image_id"] == 785
    assert not s.keypoints.any() and s.keypoints_visible.all() and s.id == 0
    kept = CocoDataset(
        ann_file=str(data / COCO), bbox_file=str(det_file), test_mode=True, filter_cfg={"bbox_score_thr": 0.3}
    )
    assert len(kept) == sum(d["score"] >= np.float32(0.3) for d in dets)
    with pytest.raises(ConfigError, match="test_mode=True"):
        CocoDataset(ann_file=str(data / COCO), bbox_file=str(det_file))
    with pytest.raises(ConfigError, match="bbox_score_thr needs data_mode='topdown'"):
        CocoDataset(ann_file=str(data / COCO), data_mode="bottomup", filter_cfg={"bbox_score_thr": 0.3})


def test_coco_options(data: Path) -> None:
    ann = str(data / COCO)
    lazy = CocoDataset(ann_file=ann, lazy_init=True)
    assert "not loaded" in repr(lazy) and len(lazy) == 12
    assert [s.id for s in (CocoDataset(ann_file=ann, indices=[2, 0])[i] for i in range(2))] == [230195, 442619]
    assert len(CocoDataset(ann_file=ann, indices=3)) == 3
    plain = CocoDataset(ann_file=ann, serialize_data=False)
    np.testing.assert_array_equal(plain[5].keypoints, CocoDataset(ann_file=ann)[5].keypoints)
    assert len(CocoDataset(ann_file=ann, sample_interval=2)) == 5  # only image 197388 has an even id
    changed = CocoDataset(ann_file=ann)
    changed[0].keypoints[:] = -1  # a transform mutating its sample leaves the dataset intact
    assert changed[0].keypoints[0, 0].tolist() == [367.0, 81.0]


def test_crowdpose(data: Path) -> None:
    ds = CocoDataset(ann_file="crowdpose/test_crowdpose.json", data_root=str(data), metainfo="crowdpose")
    assert len(ds) == 4  # 5 annotations, 1 without keypoints
    s = ds[0]
    assert s.id == 123803 and s.crowd_index == 0.33 and s.keypoints.shape == (1, 14, 2)
    np.testing.assert_array_equal(s.bbox, f32([[106.01, 13.43, 106.01 + 273.15, 13.43 + 352.42]]))
    assert s.keypoints[0, 1].tolist() == [208.0, 108.0] and s.keypoints_visible[0, :2].tolist() == [0.0, 1.0]
    assert s.flip_indices == [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13]


def test_ap10k(data: Path) -> None:
    ds = CocoDataset(ann_file="ap10k/test_ap10k.json", data_root=str(data), metainfo="ap10k")
    assert len(ds) == 2
    s = next(ds[i] for i in range(2) if ds[i].id == 9284)
    assert s.category_id == 26 and s.img_id == 37516
    np.testing.assert_array_equal(s.bbox, f32([[66, 192, 66 + 1092, 192 + 512]]))
    assert s.keypoints[0, 0].tolist() == [134.0, 415.0] and s.keypoints_visible[0, 1] == 0
    assert s.flip_indices[:2] == [1, 0] and s.num_keypoints.tolist() == [16]


def test_onehand10k(data: Path) -> None:
    ds = CocoDataset(ann_file="onehand10k/test_onehand10k.json", data_root=str(data), metainfo="onehand10k")
    assert len(ds) == 4
    s = ds[0]
    assert s.id == 9 and s.keypoints.shape == (1, 21, 2) and s.flip_indices == list(range(21))
    np.testing.assert_array_equal(s.bbox, f32([[63, 92, 162, 286]]))
    assert s.keypoints[0, 1].tolist() == [81.0, 251.0] and s.keypoints_visible[0, :2].tolist() == [0.0, 1.0]


def test_wflw_center_scale_boxes(data: Path) -> None:
    ds = CocoDataset(ann_file="wflw/test_wflw.json", data_root=str(data), metainfo="wflw", bbox_from="center_scale")
    assert len(ds) == 4
    s = ds[0]
    assert s.id == 2 and s.keypoints.shape == (1, 98, 2)
    # center [482.5, 164.5], scale 0.425 * 200 = 85 pixels
    np.testing.assert_allclose(s.bbox_center, [[482.5, 164.5]])
    np.testing.assert_allclose(s.bbox_scale, [[85.0, 85.0]], rtol=1e-6)
    np.testing.assert_allclose(s.bbox, [[440.0, 122.0, 525.0, 207.0]], rtol=1e-6)
    assert s.keypoints[0, 0] == pytest.approx([440.696106, 132.732559]) and s.flip_indices[0] == 32
    by_box = CocoDataset(ann_file="wflw/test_wflw.json", data_root=str(data), metainfo="wflw")[0]
    assert by_box.bbox[0, 0] == np.float32(432.3053162) and by_box.bbox_center.shape == (0, 2)


def test_posetrack18(data: Path) -> None:
    root = data / "posetrack18"
    ds = CocoDataset(ann_file="annotations/test_posetrack18_val.json", data_root=str(root), metainfo="posetrack18")
    assert len(ds) == 14
    s = ds[0]
    assert s.id == 1012834000000 and s.img_id == 10128340000 and s.iscrowd.tolist() == [0]
    assert s.img_path == str(root / "images/val/012834_mpii_test/000000.jpg") and Path(s.img_path).is_file()
    x, y, w, h = s.extra["raw_ann_info"]["bbox"]  # inside the 1920 x 1080 image: no clipping
    np.testing.assert_array_equal(s.bbox, f32([[x, y, x + w, y + h]]))
    assert s.keypoints[0, 1].tolist() == pytest.approx([409.5254211, 555.3547363]) and s.num_keypoints.tolist() == [11]
    assert s.flip_indices[:5] == [0, 1, 2, 4, 3]  # head bottom/top have no partner
    dets = CocoDataset(
        ann_file="annotations/test_posetrack18_val.json",
        data_root=str(root),
        metainfo="posetrack18",
        bbox_file=str(root / "annotations/test_posetrack18_human_detections.json"),
        test_mode=True,
    )
    assert len(dets) == 278


def test_coco_wholebody(data: Path) -> None:
    ds = CocoWholeBodyDataset(ann_file=str(data / "coco/test_coco_wholebody.json"))
    assert len(ds) == 12 and ds.metainfo.dataset_name == "coco_wholebody"
    s = ds[0]
    raw = s.extra["raw_ann_info"]
    assert s.keypoints.shape == (1, 133, 2)
    assert s.keypoints[0, 17].tolist() == raw["foot_kpts"][:2]  # feet follow the body
    assert s.keypoints[0, 23].tolist() == pytest.approx(raw["face_kpts"][:2])
    assert s.keypoints[0, 112].tolist() == pytest.approx(raw["righthand_kpts"][:2])
    assert not s.keypoints_visible[0, 91:112].any() and s.keypoints_visible[0, 112:].all()  # left hand unlabelled


# ---- MPII ----


def test_mpii(data: Path) -> None:
    ds = MpiiDataset(ann_file="mpii/test_mpii.json", data_root=str(data), data_prefix={"img": "mpii"})
    assert len(ds) == 5
    s = ds[0]
    assert s.img_id == 5808361 and s.id == 0 and Path(s.img_path).is_file()
    # center [966, 340], scale 4.718488: y += 15 * scale, then 1-based -> 0-based; side scale * 200
    scale = np.float32(4.718488) * np.float32(200)
    np.testing.assert_array_equal(s.bbox_scale, [[scale, scale]])
    np.testing.assert_allclose(s.bbox_center, [[965.0, 339.0 + 15 * 4.718488]], rtol=1e-6)
    cy = 339 + 15 * 4.718488
    np.testing.assert_allclose(s.bbox, [[965 - scale / 2, cy - scale / 2, 965 + scale / 2, cy + scale / 2]], atol=1e-3)
    assert s.keypoints.shape == (1, 16, 2) and s.keypoints[0, 0].tolist() == [804.0, 711.0]
    assert s.keypoints_visible.tolist() == [[1.0] * 16] and s.flip_indices[:6] == [5, 4, 3, 2, 1, 0]
    assert "head_size" not in s.extra  # the json carries no head box
    assert len(MpiiDataset(ann_file="mpii/test_mpii.json", data_root=str(data), data_mode="bottomup")) == 5


def test_mpii_head_sizes(data: Path, tmp_path: Path) -> None:
    from scipy.io import savemat

    boxes = np.zeros((2, 2, 5))
    boxes[1, :, :] = [[30.0] * 5, [40.0] * 5]  # x2 - x1 = 30, y2 - y1 = 40: diagonal 50
    savemat(tmp_path / "mpii_gt_val.mat", {"headboxes_src": boxes})
    ds = MpiiDataset(
        ann_file=str(data / "mpii/test_mpii.json"), headbox_file=str(tmp_path / "mpii_gt_val.mat"), test_mode=True
    )
    assert ds[3].extra["head_size"].tolist() == [[pytest.approx(30.0)]]  # 0.6 * 50
    with pytest.raises(ConfigError, match="test_mode=True"):
        MpiiDataset(ann_file=str(data / "mpii/test_mpii.json"), headbox_file="x.mat")
    short = np.zeros((2, 2, 4))
    savemat(tmp_path / "short.mat", {"headboxes_src": short})
    with pytest.raises(DataError, match=r"short.mat: 'headboxes_src' has shape \(2, 2, 4\), expected \(2, 2, 5\)"):
        MpiiDataset(
            ann_file=str(data / "mpii/test_mpii.json"), headbox_file=str(tmp_path / "short.mat"), test_mode=True
        )


# ---- Human3.6M ----


# ---- pipelines, seeds, registry ----


# ---- bad input: the message names the file and the annotation / image ----


def _coco_file(tmp_path: Path, data: Path, edit) -> Path:
    content = json.loads((data / COCO).read_text())
    edit(content)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(content))  # json writes NaN literally, as Python's json reads it
    return path


def test_missing_annotation_file(tmp_path: Path) -> None:
    with pytest.raises(AnnotationFileNotFoundError, match=r"annotation file .*nope.json' does not exist") as info:
        CocoDataset(ann_file=str(tmp_path / "nope.json"))
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DataError)
    with pytest.raises(AnnotationFileNotFoundError, match=r"nope.json"):
        MpiiDataset(ann_file=str(tmp_path / "nope.json"))


def test_malformed_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    with pytest.raises(DataError, match=rf"annotation file {bad} is not valid JSON: .*line 1"):
        CocoDataset(ann_file=str(bad))
    bad.write_text('{"annotations": []}')
    with pytest.raises(DataError, match=rf"{bad}: a COCO keypoint file is an object with 'images'"):
        CocoDataset(ann_file=str(bad))


def test_keypoint_count_mismatch(data: Path, tmp_path: Path) -> None:
    path = _coco_file(tmp_path, data, lambda c: c["annotations"][2].update(keypoints=[1.0, 2.0, 2.0] * 16))
    with pytest.raises(DataError) as info:
        CocoDataset(ann_file=str(path))
    msg = str(info.value)
    assert str(path) in msg and "annotation id 230195 (image id 40083)" in msg and "48 keypoint values" in msg
    with pytest.raises(DataError, match=r"annotation id 442619 .*: 51 keypoint values .*14 keypoints .*'crowdpose'"):
        CocoDataset(ann_file=str(data / COCO), metainfo="crowdpose")


@pytest.mark.parametrize(
    ("field", "index"),
    [("keypoints", 3), ("bbox", 1)],
)
def test_nan_coordinates(data: Path, tmp_path: Path, field: str, index: int) -> None:
    def edit(content: dict) -> None:
        content["annotations"][4][field][index] = float("nan")

    path = _coco_file(tmp_path, data, edit)
    with pytest.raises(DataError, match=rf"{path}: annotation id 460541 \(image id 196141\): {field} holds NaN"):
        CocoDataset(ann_file=str(path))


def test_zero_size_box_is_skipped_with_a_warning(data: Path, tmp_path: Path) -> None:
    def edit(content: dict) -> None:
        content["annotations"][0]["bbox"] = [700.0, 10.0, 20.0, 20.0]  # right of the 640-wide image
        content["annotations"][1]["bbox"][2] = -5.0

    path = _coco_file(tmp_path, data, edit)
    with pytest.warns(UserWarning, match=rf"skipped 2 annotation\(s\) of {path} with a box of zero .*442619, 198196"):
        ds = CocoDataset(ann_file=str(path))
    assert len(ds) == 10


def test_annotation_of_unknown_image_is_skipped_with_a_warning(data: Path, tmp_path: Path) -> None:
    path = _coco_file(tmp_path, data, lambda c: c["annotations"][0].update(image_id=999))
    with pytest.warns(UserWarning, match=r"skipped 1 annotation\(s\) .* image_id that is not .* ids 442619"):
        assert len(CocoDataset(ann_file=str(path))) == 11


def test_detection_of_unknown_image(data: Path, tmp_path: Path) -> None:
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 5, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9}]))
    with pytest.raises(DataError, match=rf"{dets}: detection 0: image id 5 is not in annotation file"):
        CocoDataset(ann_file=str(data / COCO), bbox_file=str(dets), test_mode=True)
    dets.write_text(json.dumps([{"image_id": 785, "category_id": 1, "bbox": [1, 2, 0, 4], "score": 0.9}]))
    with pytest.warns(UserWarning, match=rf"skipped 1 detection\(s\) of {dets} with a box of zero"):
        CocoDataset(ann_file=str(data / COCO), bbox_file=str(dets), test_mode=True)


def test_mpii_bad_annotation(data: Path, tmp_path: Path) -> None:
    anns = json.loads((data / "mpii/test_mpii.json").read_text())
    anns[2]["joints"] = anns[2]["joints"][:15]
    path = tmp_path / "mpii.json"
    path.write_text(json.dumps(anns))
    with pytest.raises(DataError, match=rf"{path}: annotation 2 \(image 051423444.jpg\): 15 joints"):
        MpiiDataset(ann_file=str(path))
    anns[2]["joints"] = [[float("nan"), 1.0]] * 16
    path.write_text(json.dumps(anns))
    with pytest.raises(DataError, match=rf"{path}: annotation 2 \(image 051423444.jpg\): joints holds NaN"):
        MpiiDataset(ann_file=str(path))
