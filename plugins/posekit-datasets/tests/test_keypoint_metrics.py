"""The PCKAccuracy / AUC / EPE / NME metric classes against MMPose 1.3.2.

Reference: shared/fixtures/mmpose/metrics/pck_<tag>.npz (see the README
there), the outputs of ``mmpose.evaluation.functional``. Tolerance: 1e-6 (relative).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from posekit_datasets.keypoint_metrics import AUC, EPE, NME, PCKAccuracy

from posekit.errors import ConfigError, DataError
from posekit.metrics.functional import keypoint_epe, keypoint_nme, keypoint_pck_accuracy
from posekit.structures import PoseResult, PoseSample

PCK_FIXTURES = ("pck_mpii-pckh0.5.npz", "pck_onehand10k-pck0.2.npz")


def results_2d(z: dict[str, Any], **extra: Any) -> list[PoseResult]:
    """One top-down result per fixture instance; ``extra[key][i]`` goes to sample i's ``extra``."""
    out = []
    for i in range(len(z["pred"])):
        size = float(z["normalize"][i, 0])
        sample = PoseSample(
            img_id=i,
            id=i,
            keypoints=z["gt"][i : i + 1],
            keypoints_visible=z["mask"][i : i + 1].astype(np.float32),
            bbox=np.array([[5.0, 7.0, 5.0 + size, 7.0 + size / 2]], dtype=np.float32),
            extra={k: v[i] for k, v in extra.items()},
        )
        out.append(
            PoseResult(
                keypoints=z["pred"][i : i + 1],
                keypoint_scores=np.ones((1, z["pred"].shape[1]), np.float32),
                bboxes=sample.bbox,
                bbox_scores=np.ones(1, np.float32),
                sample=sample,
            )
        )
    return out


@pytest.mark.parametrize("name", PCK_FIXTURES)
def test_metric_classes_match_mmpose(posekit_reference: Any, shared: Path, name: str) -> None:
    z = posekit_reference.metric_fixture(shared, name)
    size = z["normalize"][:, 0]
    results = results_2d(z, head_size=size, norm=size)

    pck = PCKAccuracy(thr=float(z["thr"]), norm_item=("bbox", "head"))
    pck.process(results)
    out = pck.evaluate()
    posekit_reference.assert_metric_close(
        out["PCK"], z["pck_avg_acc"], f"{name}: PCK (normalised by the box's longer side)"
    )
    posekit_reference.assert_metric_close(
        out["PCKh"], z["pck_avg_acc"], f"{name}: PCKh (normalised by extra['head_size'])"
    )

    for metric, key, expected in [
        (AUC(norm_factor=float(z["auc_norm_factor"]), num_thrs=int(z["auc_num_thrs"])), "AUC", z["auc"]),
        (EPE(), "EPE", z["epe"]),
        (NME(norm_mode="use_norm_item", norm_item="norm"), "NME", z["nme"]),
        (NME(norm_mode="use_norm_item", norm_item="bbox_size"), "NME", z["nme"]),
    ]:
        metric.process(results)
        posekit_reference.assert_metric_close(
            metric.evaluate()[key], expected, f"{name}: {type(metric).__name__} {key}"
        )


@pytest.mark.parametrize(
    ("kwargs", "dataset", "pair"),
    [({"keypoint_indices": (0, 9)}, None, (0, 9)), ({}, "horse10", (0, 1))],
    ids=["given-pair", "dataset-default-pair"],
)
def test_nme_keypoint_distance(
    posekit_reference: Any, shared: Path, kwargs: dict[str, Any], dataset: str | None, pair: tuple[int, int]
) -> None:
    z = posekit_reference.metric_fixture(shared, "pck_onehand10k-pck0.2.npz")
    metric = NME(norm_mode="keypoint_distance", **kwargs)
    if dataset is not None:
        metric.set_dataset_meta({"dataset_name": dataset})
    metric.process(results_2d(z))
    interocular = np.linalg.norm(z["gt"][:, pair[0]] - z["gt"][:, pair[1]], axis=1)
    expected = keypoint_nme(z["pred"], z["gt"], z["mask"], np.stack([interocular, interocular], axis=1))
    assert metric.evaluate() == {"NME": expected}


def test_nme_keypoint_distance_names_a_dataset_without_default_pair(posekit_reference: Any, shared: Path) -> None:
    z = posekit_reference.metric_fixture(shared, "pck_onehand10k-pck0.2.npz")
    unknown = NME(norm_mode="keypoint_distance")
    unknown.set_dataset_meta({"dataset_name": "onehand10k"})
    unknown.process(results_2d(z))
    with pytest.raises(ConfigError, match=r"no default pair for dataset 'onehand10k'.*keypoint_indices=\(i, j\)"):
        unknown.evaluate()


def test_bad_input_is_named(posekit_reference: Any, shared: Path) -> None:
    z = posekit_reference.metric_fixture(shared, "pck_mpii-pckh0.5.npz")
    results = results_2d(z)
    results[1].keypoints = results[1].keypoints[:, :15]
    message = (
        r"PCKAccuracy.process: results\[1\] \(img_id 1, id 1\): keypoints must have shape \(1, 16, 2\) "
        r"\(that of the ground truth sample.keypoints\), got \(1, 15, 2\)"
    )
    with pytest.raises(DataError, match=message):
        PCKAccuracy().process(results)
    results = results_2d(z)
    results[0].keypoints = results[0].keypoints.copy()
    results[0].keypoints[0, 2, 0] = np.nan
    with pytest.raises(DataError, match=r"results\[0\] \(img_id 0, id 0\): keypoints holds 1 NaN"):
        EPE().process(results)
    with pytest.raises(DataError, match=r"PCKAccuracy\(norm_item='head'\) needs sample.extra\['head_size'\]"):
        PCKAccuracy(norm_item="head").process(results_2d(z))
    with pytest.raises(DataError, match="no result was processed"):
        EPE().evaluate()
    with pytest.raises(ConfigError, match="norm_item must be among"):
        PCKAccuracy(norm_item="elbow")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs norm_item"):
        NME(norm_mode="use_norm_item")
    with pytest.raises(DataError, match=r"mask must have shape \(N, K\) = \(5, 16\), got \(5, 15\)"):
        keypoint_epe(z["pred"], z["gt"], z["mask"][:, :15])
    with pytest.raises(DataError, match=r"norm_factor must have shape \(N, 2\) = \(5, 2\), got \(5,\)"):
        keypoint_pck_accuracy(z["pred"], z["gt"], z["mask"], 0.5, z["normalize"][:, 0])


def test_evaluate_resets_and_prefixes(posekit_reference: Any, shared: Path) -> None:
    z = posekit_reference.metric_fixture(shared, "pck_mpii-pckh0.5.npz")
    metric = EPE(prefix="val")
    metric.process(results_2d(z))
    metric.process(results_2d(z)[:2])  # duplicates (a padded sampler) are counted once
    assert metric.evaluate() == {"val/EPE": pytest.approx(float(z["epe"]), rel=1e-6)}
    with pytest.raises(DataError, match="no result was processed"):
        metric.evaluate()


def test_registry_builds_keypoint_metrics() -> None:
    from posekit.registry import build

    assert build("metric", {"type": "PCKAccuracy", "thr": 0.5, "norm_item": "head"}).norm_item == ("head",)
    assert build("metric", {"type": "PCKAccuracy", "norm_item": ["bbox", "torso"]}).norm_item == ("bbox", "torso")
    assert build("metric", {"type": "NME", "norm_mode": "keypoint_distance"}).keypoint_indices is None
    assert isinstance(build("metric", {"type": "AUC"}), AUC)
