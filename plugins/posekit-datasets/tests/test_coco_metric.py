"""CocoMetric and evaluate_results_file against MMPose 1.3.2 / pycocotools reference numbers.

Reference: shared/fixtures/mmpose/metrics/coco_<tag>.json (see the README there). ``stats`` are
pycocotools' (xtcocotools' for CrowdPose) on ``predictions``; each ``mmpose_coco_metric`` case is
MMPose's ``CocoMetric(**settings)`` on ``instances``, with the results file it evaluated.
Tolerance: 1e-9 on every statistic and every number of the results file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from posekit_datasets.coco_metric import CocoMetric, meta_file
from posekit_datasets.coco_results import evaluate_results_file

from posekit.errors import ConfigError, DataError
from posekit.structures import PoseResult, PoseSample

FIXTURES = ("coco_coco-sample.json", "coco_crowdpose-sample.json")
TOL = 1e-9


def load_fixture(shared: Path, name: str) -> dict[str, Any]:
    return json.loads((shared / "fixtures" / "mmpose" / "metrics" / name).read_text())


def cases() -> list[tuple[str, int]]:
    return [("coco_coco-sample.json", 0), ("coco_coco-sample.json", 1), ("coco_crowdpose-sample.json", 0)]


def to_results(instances: list[dict[str, Any]], *, with_bbox_scale: bool = True) -> list[PoseResult]:
    """One top-down PoseResult per fixture instance.

    MMPose takes the OKS-NMS area from the sample's ``bbox_scales``; the fixture's ``area`` was
    given that way, so it is passed as a (area, 1) box scale.
    """
    results = []
    for inst in instances:
        sample = PoseSample(img_id=inst["img_id"], id=inst["id"], category_id=inst["category_id"])
        if with_bbox_scale:
            sample.bbox_scale = np.array([[inst["area"], 1.0]])
        results.append(
            PoseResult(
                keypoints=np.array([inst["keypoints"]]),
                keypoint_scores=np.array([inst["keypoint_scores"]]),
                bboxes=np.zeros((0, 4)),
                bbox_scores=np.array([inst["bbox_score"]]),
                sample=sample,
            )
        )
    return results


def assert_stats(actual: dict[str, float], expected: dict[str, float], source: str, prefix: str = "") -> None:
    assert set(actual) == {prefix + k for k in expected}, source
    for name, value in expected.items():
        assert abs(actual[prefix + name] - value) <= TOL, f"{source}: {name} = {actual[prefix + name]}, MMPose {value}"


@pytest.mark.parametrize("name", FIXTURES)
def test_results_file_matches_pycocotools_stats(shared: Path, tmp_path: Path, name: str) -> None:
    ref = load_fixture(shared, name)
    results_file = tmp_path / "preds.keypoints.json"
    results_file.write_text(json.dumps(ref["predictions"]))
    crowd = ref["iou_type"] == "keypoints_crowd"
    stats = evaluate_results_file(
        results_file,
        shared / ref["ann_file"],
        sigmas=ref["kpt_oks_sigmas"],
        iou_type=ref["iou_type"],
        use_area=not crowd,  # the CrowdPose reference ran with use_area=False
    )
    assert list(stats) == ref["stats_names"], name
    assert_stats(stats, ref["stats_by_name"], f"{name} ({ref['evaluator']})")


def test_every_mmpose_case_is_tested(shared: Path) -> None:
    listed = sorted(cases())
    in_fixtures = sorted((n, i) for n in FIXTURES for i in range(len(load_fixture(shared, n)["mmpose_coco_metric"])))
    assert listed == in_fixtures, "a mmpose_coco_metric case of the fixtures is not parametrized in cases()"


@pytest.mark.parametrize(("name", "case"), cases())
def test_coco_metric_matches_mmpose(shared: Path, tmp_path: Path, name: str, case: int) -> None:
    ref = load_fixture(shared, name)
    mm = ref["mmpose_coco_metric"][case]
    source = f"{name} mmpose_coco_metric[{case}] settings {mm['settings']}"
    metric = CocoMetric(
        ann_file=str(shared / ref["ann_file"]),
        sigmas=tuple(ref["mmpose_sigmas"]),
        outfile_prefix=str(tmp_path / "out"),
        **mm["settings"],
    )
    metric.process(to_results(ref["instances"]))
    assert_stats(metric.evaluate(), mm["stats"], source, prefix="coco/")

    written = json.loads((tmp_path / "out.keypoints.json").read_text())
    assert len(written) == len(mm["results"]), source
    for got, want in zip(written, mm["results"], strict=True):
        assert (got["image_id"], got["category_id"]) == (want["image_id"], want["category_id"]), source
        assert abs(got["score"] - want["score"]) <= TOL, source
        np.testing.assert_allclose(got["keypoints"], want["keypoints"], rtol=0, atol=TOL, err_msg=source)

    record = json.loads(meta_file(tmp_path / "out.keypoints.json").read_text())
    assert record["sigmas_source"] == "the sigmas argument of CocoMetric"
    assert record["sigmas"] == pytest.approx(ref["mmpose_sigmas"], abs=0)
    # the written file evaluates to the same numbers without a model, sigmas read from the record
    again = evaluate_results_file(tmp_path / "out.keypoints.json", shared / ref["ann_file"])
    assert_stats(again, mm["stats"], f"{source}, re-evaluated from its results file")


def ground_truth_samples(shared: Path, ref: dict[str, Any]) -> list[PoseSample]:
    """One bottom-up sample per image carrying every annotated person of the annotation file."""
    data = json.loads((shared / ref["ann_file"]).read_text())
    k = len(ref["kpt_oks_sigmas"])
    samples = []
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        kpts = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(len(anns), k, 3)
        boxes = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(len(anns), 4)
        samples.append(
            PoseSample(
                img_id=image["id"],
                ori_shape=(image["height"], image["width"]),
                keypoints=kpts[..., :2],
                keypoints_visible=np.minimum(kpts[..., 2], 1),
                bbox=np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1),
                area=np.array([a.get("area", 0.0) for a in anns]),
                iscrowd=np.array([a["iscrowd"] for a in anns]),
                num_keypoints=np.array([a["num_keypoints"] for a in anns]),
                crowd_index=image.get("crowdIndex"),
            )
        )
    return samples


@pytest.mark.parametrize(("name", "case"), cases())
def test_ground_truth_from_samples(shared: Path, name: str, case: int) -> None:
    """ann_file=None: the ground truth rebuilt from bottom-up samples gives the file's numbers."""
    ref = load_fixture(shared, name)
    settings = ref["mmpose_coco_metric"][case]["settings"]
    by_image: dict[int, list[dict[str, Any]]] = {}
    for inst in ref["instances"]:
        by_image.setdefault(inst["img_id"], []).append(inst)

    def results() -> list[PoseResult]:
        out = []
        for sample in ground_truth_samples(shared, ref):
            insts = sorted(by_image.get(sample.img_id, []), key=lambda i: i["id"])
            out.append(
                PoseResult(
                    keypoints=np.array([i["keypoints"] for i in insts]).reshape(len(insts), -1, 2),
                    keypoint_scores=np.array([i["keypoint_scores"] for i in insts]).reshape(len(insts), -1),
                    bboxes=np.zeros((0, 4)),
                    bbox_scores=np.array([i["bbox_score"] for i in insts]),
                    sample=sample,
                )
            )
        return out

    sigmas = tuple(ref["mmpose_sigmas"])
    from_file = CocoMetric(ann_file=str(shared / ref["ann_file"]), sigmas=sigmas, **settings)
    from_file.process(results())
    from_samples = CocoMetric(sigmas=sigmas, **settings)
    from_samples.process(results())
    expected = {k.removeprefix("coco/"): v for k, v in from_file.evaluate().items()}
    assert_stats(from_samples.evaluate(), expected, f"{name} settings {settings}", prefix="coco/")


@pytest.fixture
def coco_ref(shared: Path) -> dict[str, Any]:
    return load_fixture(shared, "coco_coco-sample.json")


def coco_metric(shared: Path, ref: dict[str, Any], **kw: Any) -> CocoMetric:
    return CocoMetric(ann_file=str(shared / ref["ann_file"]), **kw)


def write_definition(path: Path, sigmas: list[float] | None, k: int = 17) -> Path:
    definition = {
        "dataset_name": "tiny_people",
        "keypoint_info": {str(i): {"name": f"kpt{i}", "id": i} for i in range(k)},
        "sigmas": sigmas,
    }
    path.write_text(json.dumps(definition))
    return path


def test_sigmas_from_a_keypoint_definition(shared: Path, tmp_path: Path, coco_ref: dict[str, Any]) -> None:
    definition = write_definition(tmp_path / "tiny.json", coco_ref["kpt_oks_sigmas"])
    metric = coco_metric(shared, coco_ref, metainfo=str(definition), outfile_prefix=str(tmp_path / "r"))
    metric.process(to_results(coco_ref["instances"]))
    mm = coco_ref["mmpose_coco_metric"][0]
    assert mm["settings"] == {"score_mode": "bbox_keypoint", "keypoint_score_thr": 0.2, "nms_mode": "oks_nms",
                              "nms_thr": 0.9}  # fmt: skip
    assert_stats(metric.evaluate(), mm["stats"], "coco sample, sigmas from a definition file", prefix="coco/")
    record = json.loads((tmp_path / "r.keypoints.meta.json").read_text())
    assert "'tiny_people'" in record["sigmas_source"] and "tiny.json" in record["sigmas_source"]


def test_definition_without_sigmas_is_refused(shared: Path, tmp_path: Path, coco_ref: dict[str, Any]) -> None:
    definition = write_definition(tmp_path / "nosigma.json", None)
    with pytest.raises(ConfigError, match=r"'tiny_people'.*has none.*PCKAccuracy or NME.*uniform_sigma"):
        coco_metric(shared, coco_ref, metainfo=str(definition))
    metric = coco_metric(shared, coco_ref)
    with pytest.raises(ConfigError, match=r"has none.*PCKAccuracy or NME"):
        metric.set_dataset_meta({"dataset_name": "mmpose_style", "num_keypoints": 17, "sigmas": np.array([])})


def test_uniform_sigma(shared: Path, tmp_path: Path, coco_ref: dict[str, Any]) -> None:
    definition = write_definition(tmp_path / "nosigma.json", None)
    metric = coco_metric(
        shared, coco_ref, metainfo=str(definition), uniform_sigma=0.05, outfile_prefix=str(tmp_path / "u")
    )
    metric.process(to_results(coco_ref["instances"]))
    stats = metric.evaluate()
    assert 0 < stats["coco/AP"] <= 1
    record = json.loads((tmp_path / "u.keypoints.meta.json").read_text())
    assert record["sigmas"] == [0.05] * 17
    assert record["sigmas_source"].startswith("uniform_sigma=0.05")


def test_no_sigma_source(shared: Path, coco_ref: dict[str, Any]) -> None:
    metric = coco_metric(shared, coco_ref)
    metric.process(to_results(coco_ref["instances"]))
    with pytest.raises(ConfigError, match=r"no OKS sigmas: pass metainfo="):
        metric.evaluate()


def one_result(inst: dict[str, Any], **changes: Any) -> PoseResult:
    result = to_results([inst])[0]
    for name, value in changes.items():
        setattr(result, name, value)
    return result


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: setattr(r.sample, "img_id", 999999), r"results\[0\] \(img_id 999999, id 1000\): image id 999999 is "
         r"not an image of the annotation file .*test_coco.json"),
        (lambda r: setattr(r, "keypoints", r.keypoints[:, :14]), r"results\[0\] \(img_id 785, id 1000\): keypoints "
         r"must have shape \(1, 17, 2\) \(K from the sigmas of the sigmas argument of CocoMetric\), got \(1, 14, 2\)"),
        (lambda r: r.keypoint_scores.__setitem__((0, 3), np.nan), r"keypoint_scores holds 1 NaN/infinite value"),
        (lambda r: setattr(r, "bbox_scores", np.array([np.nan])), r"bbox_scores holds 1 NaN/infinite value"),
        (lambda r: setattr(r, "keypoint_scores", r.keypoint_scores[:, :16]), r"keypoint_scores must have shape "
         r"\(1, 17\), got \(1, 16\)"),
    ],
    ids=["unknown-image", "wrong-K", "nan-keypoint-score", "nan-bbox-score", "scores-shape"],
)  # fmt: skip
def test_bad_predictions(shared: Path, coco_ref: dict[str, Any], change: Any, message: str) -> None:
    metric = coco_metric(shared, coco_ref, sigmas=tuple(coco_ref["kpt_oks_sigmas"]))
    result = one_result(coco_ref["instances"][0])
    change(result)
    with pytest.raises(DataError, match=message):
        metric.process([result])


def test_results_file_errors(shared: Path, tmp_path: Path, coco_ref: dict[str, Any]) -> None:
    ann_file = shared / coco_ref["ann_file"]
    sigmas = coco_ref["kpt_oks_sigmas"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{**coco_ref["predictions"][0], "image_id": 4242}]))
    with pytest.raises(DataError, match=r"predictions for image ids \[4242\] that are not images of the annotation"):
        evaluate_results_file(bad, ann_file, sigmas=sigmas)
    bad.write_text(json.dumps([{**coco_ref["predictions"][0], "keypoints": [1.0, 2.0, 0.5] * 14}]))
    with pytest.raises(DataError, match=r"K=14 keypoints but the sigmas of the sigmas argument of CocoMetric have 17"):
        evaluate_results_file(bad, ann_file, sigmas=sigmas)
    bad.write_text(json.dumps([{**coco_ref["predictions"][0], "score": float("nan")}]))
    with pytest.raises(DataError, match=r"entry 0 \(image_id 785\): score holds 1 NaN"):
        evaluate_results_file(bad, ann_file, sigmas=sigmas)
    bad.write_text(json.dumps(coco_ref["predictions"]))
    with pytest.raises(ConfigError, match="no OKS sigmas"):
        evaluate_results_file(bad, ann_file)


def test_format_only_and_bboxes(shared: Path, tmp_path: Path, coco_ref: dict[str, Any]) -> None:
    """format_only writes the results (boxes as xywh) and evaluates nothing."""
    metric = CocoMetric(
        sigmas=tuple(coco_ref["kpt_oks_sigmas"]), format_only=True, outfile_prefix=str(tmp_path / "sub" / "f")
    )
    result = one_result(coco_ref["instances"][0], bboxes=np.array([[10.0, 20.0, 110.0, 220.0]]))
    metric.process([result])
    assert metric.evaluate() == {}
    written = json.loads((tmp_path / "sub" / "f.keypoints.json").read_text())
    assert written[0]["bbox"] == [10.0, 20.0, 100.0, 200.0]
    with pytest.raises(ConfigError, match="format_only=True needs outfile_prefix"):
        CocoMetric(format_only=True, sigmas=(0.1,))


def test_duplicates_from_a_padded_sampler_are_dropped(shared: Path, coco_ref: dict[str, Any]) -> None:
    sigmas = tuple(coco_ref["mmpose_sigmas"])
    metric = coco_metric(shared, coco_ref, sigmas=sigmas)
    results = to_results(coco_ref["instances"])
    metric.process(results)
    metric.process(results[:3])  # a DistributedSampler pads by repeating the first samples
    assert_stats(metric.evaluate(), coco_ref["mmpose_coco_metric"][0]["stats"], "coco sample + duplicates", "coco/")


def test_registry_builds_coco_metric(shared: Path, coco_ref: dict[str, Any]) -> None:
    from posekit.registry import build

    metric = build(
        "metric",
        {"type": "CocoMetric", "ann_file": str(shared / coco_ref["ann_file"]), "nms_mode": "soft_oks_nms",
         "sigmas": coco_ref["kpt_oks_sigmas"]},
    )  # fmt: skip
    metric.process(to_results(coco_ref["instances"]))
    stats = metric.evaluate()
    assert set(stats) == {f"coco/{k}" for k in coco_ref["stats_names"]}
    with pytest.raises(ConfigError, match="nms_mode"):
        build("metric", {"type": "CocoMetric", "nms_mode": "greedy"})
