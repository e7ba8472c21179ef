"""PoseTrack18Metric against MMPose 1.3.2 + poseval, and poseval's AP on cases counted by hand.

``fixtures/posetrack18_metric.json`` (``benchmarks/fixtures/gen_fidelity.py --only posetrack18``) holds
the predictions MMPose's ``PoseTrack18Metric`` processed on the shared PoseTrack18 sample, the values
poseval's ``evaluateAP`` returned (1e-9 relative here: the same sums in another order) and the
per-video results files MMPose wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from posekit_datasets.posetrack18_metric import video_frames
from posekit_datasets.posetrack_ap import JOINTS, Frame, evaluate_ap, inside_polygon, summarize

from posekit.errors import ConfigError, DataError
from posekit.registry import build
from posekit.structures import PoseResult, PoseSample

REF = json.loads((Path(__file__).parent / "fixtures" / "posetrack18_metric.json").read_text())
J = len(JOINTS)


def _results(predictions: list[dict[str, Any]]) -> list[PoseResult]:
    results = []
    for p in predictions:
        sample = PoseSample(img_id=p["img_id"], id=p["id"], bbox_scale=np.asarray(p["bbox_scale"], np.float32))
        results.append(
            PoseResult(
                keypoints=np.asarray(p["keypoints"], np.float32),
                keypoint_scores=np.asarray(p["keypoint_scores"], np.float32),
                bboxes=np.zeros((0, 4), np.float32),
                bbox_scores=np.array([p["bbox_score"]], np.float32),
                sample=sample,
            )
        )
    return results


@pytest.mark.parametrize("case", ["exact", "noisy", "noisy-bbox-nonms"])
def test_matches_mmpose_and_poseval(case: str, shared: Path, tmp_path: Path) -> None:
    ref = REF[case]
    metric = build(
        "metric",
        {
            "type": "PoseTrack18Metric",
            "ann_file": str(shared / REF["ann_file"]),
            "outfile_prefix": f"{tmp_path}/r",
            **ref["kwargs"],
        },
    )
    metric.set_dataset_meta("posetrack18")
    metric.process(_results(ref["predictions"]))
    got = metric.evaluate()
    assert set(got) == set(ref["metrics"])
    for key, value in ref["metrics"].items():
        assert got[key] == pytest.approx(value, rel=1e-9), f"posetrack18_metric.json {case}: {key}"
    for name, written in ref.get("written", {}).items():
        mine = json.loads((tmp_path / name).read_text())
        assert mine["images"] == written["images"] and mine["categories"] == written["categories"], name
        assert len(mine["annotations"]) == len(written["annotations"]), name
        for a, b in zip(mine["annotations"], written["annotations"], strict=True):
            assert (a["image_id"], a["track_id"]) == (b["image_id"], b["track_id"])
            assert a["keypoints"] == b["keypoints"] and a["scores"] == b["scores"]
            assert a["score"] == pytest.approx(b["score"], rel=1e-6)


def test_dataset_samples_as_predictions_score_100(shared: Path) -> None:
    """PoseTrack18Dataset's samples predicted exactly (unlabelled joints at 0, 0 with score 0), via the registry."""
    ann_file = str(shared / REF["ann_file"])
    dataset = build("dataset", {"type": "PoseTrack18Dataset", "ann_file": ann_file, "test_mode": True})
    metric = build("metric", {"type": "PoseTrack18Metric", "ann_file": ann_file})
    metric.set_dataset_meta(dataset.metainfo)
    samples = [dataset.get_data_info(i) for i in range(len(dataset))]
    metric.process(
        [
            PoseResult(
                keypoints=s.keypoints,
                keypoint_scores=s.keypoints_visible,
                bboxes=s.bbox,
                bbox_scores=np.ones(1, np.float32),
                sample=s,
            )
            for s in samples
        ]
    )
    assert metric.evaluate() == REF["exact"]["metrics"]  # 100 for each of the eight names


def test_synthetic_frames_match_poseval() -> None:
    """Frames with unlabelled joints, decoys, empty frames and ignore regions, as poseval scores them."""
    frames = [
        Frame(
            np.asarray(f["gt"], np.float64).reshape(-1, J, 2),
            np.asarray(f["gt_has"], bool).reshape(-1, J),
            np.asarray(f["head_box"], np.float64).reshape(-1, 4),
            np.asarray(f["pred"], np.float64).reshape(-1, J, 2),
            np.asarray(f["pred_has"], bool).reshape(-1, J),
            np.asarray(f["pred_scores"], np.float64).reshape(-1, J),
            [np.asarray(square, np.float64) for square in f["ignore"]],
        )
        for f in REF["synthetic"]["frames"]
    ]
    np.testing.assert_allclose(evaluate_ap(frames), REF["synthetic"]["ap"], rtol=1e-9)


def _person(rng: np.random.Generator, x: float) -> np.ndarray:
    return np.stack([x + rng.uniform(0, 100, J), rng.uniform(0, 200, J)], axis=1)


def _frame(gt: list[np.ndarray], pred: list[np.ndarray], scores: list[float], **kw: Any) -> Frame:
    g, p = np.stack(gt), np.stack(pred)
    head = np.array([[x, 0.0, x + 30.0, 40.0] for x in g[:, 0, 0]])  # head size 0.6 * 50 = 30 px
    return Frame(
        g,
        kw.get("gt_has", np.ones(g.shape[:2], bool)),
        head,
        p,
        kw.get("pred_has", np.ones(p.shape[:2], bool)),
        np.repeat(np.array(scores)[:, None], J, axis=1),
        kw.get("ignore", ()),
    )


def test_perfect_predictions_score_100() -> None:
    rng = np.random.default_rng(0)
    a, b = _person(rng, 0), _person(rng, 500)
    ap = evaluate_ap([_frame([a, b], [b, a], [0.5, 0.7])])
    assert summarize(ap) == {name: 100.0 for name in summarize(ap)}


def test_a_counted_miss_pattern() -> None:
    """Two people; a decoy ranks first (a false positive at every joint); person B's left wrist is 16 px off.

    Per joint the ranked labels are [0, 1, 1] of 2: AP = 0.5 * 2/3 + 0.5 * 2/3 = 66.67; the left wrist
    [0, 1, 0]: AP = 0.5 * 1/2 = 25 (a miss, 16 px > 0.5 * 30 px head size).
    """
    rng = np.random.default_rng(1)
    a, b, decoy = _person(rng, 0), _person(rng, 500), _person(rng, 2000)
    b_pred = b.copy()
    b_pred[JOINTS.index("left_wrist")] += [16.0, 0.0]
    ap = evaluate_ap([_frame([a, b], [decoy, a, b_pred], [0.95, 0.9, 0.8])])
    expected = np.full(J, 200 / 3)
    expected[JOINTS.index("left_wrist")] = 25.0
    np.testing.assert_allclose(ap, [*expected, expected.mean()], rtol=1e-12)
    assert summarize(ap)["Wri AP"] == pytest.approx((200 / 3 + 25) / 2)


def test_tied_scores_rank_the_later_detection_first() -> None:
    """A decoy and an exact prediction with one score: ranked [exact, decoy] -> precision 1 at recall 1."""
    rng = np.random.default_rng(3)
    a, decoy = _person(rng, 0), _person(rng, 900)
    assert summarize(evaluate_ap([_frame([a], [decoy, a], [0.5, 0.5])]))["AP"] == 100.0
    assert summarize(evaluate_ap([_frame([a], [a, decoy], [0.5, 0.5])]))["AP"] == 50.0


def test_unpredicted_joint_is_zero_unannotated_joint_is_left_out() -> None:
    rng = np.random.default_rng(2)
    a = _person(rng, 0)
    gt_has, pred_has = np.ones((1, J), bool), np.ones((1, J), bool)
    gt_has[0, 0] = False  # right ankle: nobody annotated it, somebody predicted it -> NaN, out of the mean
    pred_has[0, 1] = False  # right knee: annotated, nobody predicted it -> 0
    ap = evaluate_ap([_frame([a], [a], [0.5], gt_has=gt_has, pred_has=pred_has)])
    assert np.isnan(ap[0]) and ap[1] == 0.0 and np.all(ap[2:J] == 100.0)
    assert ap[J] == pytest.approx(1300 / 14)
    assert np.isnan(summarize(ap)["Ankl AP"])


def test_ignore_regions_remove_points_strictly_inside() -> None:
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    points = np.array([[5.0, 5.0], [10.0, 5.0], [0.0, 0.0], [11.0, 5.0], [5.0, -1.0]])
    assert inside_polygon(points, square).tolist() == [True, False, False, False, False]
    # a false positive inside an ignore region is not counted: AP stays 100
    a = np.full((J, 2), 50.0) + np.arange(J)[:, None]
    decoy = np.full((J, 2), 5.0)
    frame = _frame([a], [decoy, a], [0.9, 0.5], ignore=[square])
    assert summarize(evaluate_ap([frame]))["AP"] == 100.0
    assert summarize(evaluate_ap([_frame([a], [decoy, a], [0.9, 0.5])]))["AP"] == 50.0


def _video(people: dict[int, list[list[float]]], head: bool = True) -> dict[str, Any]:
    names = ["nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder", "right_shoulder"]
    names += [f"{s}_{p}" for p in ("elbow", "wrist", "hip", "knee", "ankle") for s in ("left", "right")]
    anns = [
        {"id": i, "image_id": img, "keypoints": kpts, **({"bbox_head": [0, 0, 30, 40]} if head else {})}
        for i, (img, kpts) in enumerate((img, k) for img, ks in people.items() for k in ks)
    ]
    return {"images": [{"id": 1}, {"id": 2}], "categories": [{"keypoints": names}], "annotations": anns}


def test_video_frames_and_frames_nobody_is_annotated_in() -> None:
    person = [float(v) for i in range(17) for v in (10 + i, 20 + i, 1)]
    person[3 * 3 : 5 * 3] = [0.0] * 6  # the ears, which poseval does not know, unlabelled
    gt = _video({1: [person]})
    pred = _video({1: [person], 2: [person]})
    frames = video_frames(gt, pred, "video.json")
    assert [len(f.gt) for f in frames] == [1, 0] and [len(f.pred) for f in frames] == [1, 1]
    assert frames[0].gt_has.all() and frames[0].pred_has.all()
    np.testing.assert_array_equal(frames[0].gt[0, JOINTS.index("nose")], [10, 20])
    np.testing.assert_array_equal(frames[0].gt[0, JOINTS.index("right_ankle")], [26, 36])
    assert summarize(evaluate_ap(frames))["AP"] == 100.0  # frame 2's prediction is no false positive
    with pytest.raises(DataError, match=r"video\.json: annotation 0 has no bbox_head"):
        video_frames(_video({1: [person]}, head=False), pred, "video.json")


def test_bad_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs ann_file"):
        build("metric", {"type": "PoseTrack18Metric"})
    ann = tmp_path / "posetrack18_val.json"
    ann.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}))
    with pytest.raises(ConfigError, match=r"no per-video ground truth .*val/\*\.json"):
        build("metric", {"type": "PoseTrack18Metric", "ann_file": str(ann)})


def test_shipped_example_ground_truth_predicted_exactly_scores_100() -> None:
    """The example ground truth the plugin ships (its example_config) is a valid PoseTrack18 folder."""
    from posekit_datasets.posetrack18_metric import PoseTrack18Metric

    metric = build("metric", {"type": "PoseTrack18Metric", **PoseTrack18Metric.example_config})
    video = json.loads(next(metric.gt_folder.glob("*.json")).read_text())
    person = np.asarray(video["annotations"][0]["keypoints"], np.float32).reshape(17, 3)
    sample = PoseSample(img_id=video["images"][0]["id"], id=0, bbox_scale=np.array([40, 56], np.float32))
    metric.process(
        [
            PoseResult(
                keypoints=person[None, :, :2],
                keypoint_scores=np.ones((1, 17), np.float32),
                bboxes=np.zeros((0, 4), np.float32),
                bbox_scores=np.ones(1, np.float32),
                sample=sample,
            )
        ]
    )
    assert metric.evaluate()["posetrack18/AP"] == 100.0
