"""PCK / AUC / EPE / NME (functions and metric classes) against MMPose 1.3.2.

Reference: shared/fixtures/mmpose/metrics/pck_<tag>.npz (see the README
there), the outputs of ``mmpose.evaluation.functional``. Tolerance: 1e-6 (relative).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posekit.errors import ConfigError, DataError
from posekit.metrics.functional import (
    keypoint_auc,
    keypoint_epe,
    keypoint_nme,
    keypoint_pck_accuracy,
    oks_matrix,
    oks_nms,
    soft_oks_nms,
)
from posekit.metrics.keypoint_metrics import AUC, EPE, NME, PCKAccuracy
from posekit.structures import PoseResult, PoseSample

PCK_FIXTURES = ("pck_mpii-pckh0.5.npz", "pck_onehand10k-pck0.2.npz")
RTOL = 1e-6


def load(shared: Path, name: str) -> dict[str, Any]:
    with np.load(shared / "fixtures" / "mmpose" / "metrics" / name, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def close(actual: Any, expected: Any, source: str) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=1e-12, err_msg=source)


@pytest.mark.parametrize("name", PCK_FIXTURES)
def test_functional_pck_auc_epe_nme(shared: Path, name: str) -> None:
    z = load(shared, name)
    pred, gt, mask = z["pred"], z["gt"], z["mask"]
    acc, avg_acc, cnt = keypoint_pck_accuracy(pred, gt, mask, float(z["thr"]), z["normalize"])
    close(acc, z["pck_acc"], f"{name}: pck_acc")
    close(avg_acc, z["pck_avg_acc"], f"{name}: pck_avg_acc")
    assert cnt == int(z["pck_cnt"]), name
    auc = keypoint_auc(pred, gt, mask, float(z["auc_norm_factor"]), int(z["auc_num_thrs"]))
    close(auc, z["auc"], f"{name}: auc")
    close(keypoint_epe(pred, gt, mask), z["epe"], f"{name}: epe")
    close(keypoint_nme(pred, gt, mask, z["normalize"]), z["nme"], f"{name}: nme")


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
def test_metric_classes_match_mmpose(shared: Path, name: str) -> None:
    z = load(shared, name)
    size = z["normalize"][:, 0]
    results = results_2d(z, head_size=size, norm=size)

    pck = PCKAccuracy(thr=float(z["thr"]), norm_item=("bbox", "head"))
    pck.process(results)
    out = pck.evaluate()
    close(out["PCK"], z["pck_avg_acc"], f"{name}: PCK (normalised by the box's longer side)")
    close(out["PCKh"], z["pck_avg_acc"], f"{name}: PCKh (normalised by extra['head_size'])")

    for metric, key, expected in [
        (AUC(norm_factor=float(z["auc_norm_factor"]), num_thrs=int(z["auc_num_thrs"])), "AUC", z["auc"]),
        (EPE(), "EPE", z["epe"]),
        (NME(norm_mode="use_norm_item", norm_item="norm"), "NME", z["nme"]),
        (NME(norm_mode="use_norm_item", norm_item="bbox_size"), "NME", z["nme"]),
    ]:
        metric.process(results)
        close(metric.evaluate()[key], expected, f"{name}: {type(metric).__name__} {key}")


def test_nme_keypoint_distance(shared: Path) -> None:
    z = load(shared, "pck_onehand10k-pck0.2.npz")
    metric = NME(norm_mode="keypoint_distance", keypoint_indices=(0, 9))
    metric.process(results_2d(z))
    interocular = np.linalg.norm(z["gt"][:, 0] - z["gt"][:, 9], axis=1)
    expected = keypoint_nme(z["pred"], z["gt"], z["mask"], np.stack([interocular, interocular], axis=1))
    assert metric.evaluate() == {"NME": expected}

    by_dataset = NME(norm_mode="keypoint_distance")
    by_dataset.set_dataset_meta({"dataset_name": "horse10"})
    by_dataset.process(results_2d(z))
    interocular = np.linalg.norm(z["gt"][:, 0] - z["gt"][:, 1], axis=1)
    expected = keypoint_nme(z["pred"], z["gt"], z["mask"], np.stack([interocular, interocular], axis=1))
    assert by_dataset.evaluate() == {"NME": expected}

    unknown = NME(norm_mode="keypoint_distance")
    unknown.set_dataset_meta({"dataset_name": "onehand10k"})
    unknown.process(results_2d(z))
    with pytest.raises(ConfigError, match=r"no default pair for dataset 'onehand10k'.*keypoint_indices=\(i, j\)"):
        unknown.evaluate()


def test_bad_input_is_named(shared: Path) -> None:
    z = load(shared, "pck_mpii-pckh0.5.npz")
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


def test_evaluate_resets_and_prefixes(shared: Path) -> None:
    z = load(shared, "pck_mpii-pckh0.5.npz")
    metric = EPE(prefix="val")
    metric.process(results_2d(z))
    metric.process(results_2d(z)[:2])  # duplicates (a padded sampler) are counted once
    assert metric.evaluate() == {"val/EPE": pytest.approx(float(z["epe"]), rel=RTOL)}
    with pytest.raises(DataError, match="no result was processed"):
        metric.evaluate()


def test_registry_builds_keypoint_metrics() -> None:
    from posekit.registry import build

    assert build("metric", {"type": "PCKAccuracy", "thr": 0.5, "norm_item": "head"}).norm_item == ("head",)
    assert build("metric", {"type": "PCKAccuracy", "norm_item": ["bbox", "torso"]}).norm_item == ("bbox", "torso")
    assert build("metric", {"type": "NME", "norm_mode": "keypoint_distance"}).keypoint_indices is None
    assert isinstance(build("metric", {"type": "AUC"}), AUC)


def test_oks_nms() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 100, size=(17, 2))
    keypoints = np.stack([base, base + 0.5, base + 40.0, base + 0.2])
    scores = np.array([0.5, 0.9, 0.8, 0.3])
    areas = np.full(4, 5000.0)
    sigmas = np.full(17, 0.05)
    oks = oks_matrix(keypoints, areas, sigmas)
    assert oks.dtype == np.float32 and np.allclose(oks, oks.T) and np.allclose(np.diag(oks), 1)
    # 1 beats its near-duplicates 0 and 3; 2 is far away
    assert oks_nms(keypoints, scores, areas, 0.9, sigmas).tolist() == [1, 2]
    # soft NMS keeps everything, the decayed duplicates last
    assert soft_oks_nms(keypoints, scores, areas, 0.9, sigmas).tolist() == [1, 2, 0, 3]
    assert soft_oks_nms(keypoints, scores, areas, 0.9, sigmas, max_dets=2).tolist() == [1, 2]
    with pytest.raises(DataError, match=r"sigmas must have shape \(K,\) = \(17,\)"):
        oks_nms(keypoints, scores, areas, 0.9, sigmas[:14])
    with_scores = np.concatenate([keypoints, np.zeros((4, 17, 1))], axis=-1)
    assert np.all(oks_matrix(with_scores, areas, sigmas, vis_thr=0.2) == 0)


_WORKER = """
import json, sys
import torch.distributed as dist
from posekit.metrics.base import gather_records

rank, world, init_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
keys = [(i, i, "") for i in range(5)] + [(0, 0, "")]  # a DistributedSampler pads 5 samples to 6
dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
records = [(k, k[0]) for k in keys[rank::world]]
out = {"gathered": [r for _, r in gather_records(records)]}

import numpy as np
from posekit.errors import ConfigError
from posekit.metrics import EPE, NME
from posekit.structures import PoseResult, PoseSample

def result(i):
    gt = np.zeros((1, 3, 2), np.float32)
    sample = PoseSample(img_id=i, id=i, keypoints=gt, keypoints_visible=np.ones((1, 3), np.float32))
    return PoseResult(gt + i, np.ones((1, 3)), np.zeros((1, 4)), np.ones(1), sample)

padded = [0, 1, 2, 3, 4, 0]  # 5 samples padded to 6: EPE = mean(i * sqrt(2)) over 0..4
epe = EPE()
epe.process([result(i) for i in padded[rank::world]])
out["epe"] = epe.evaluate()["EPE"]
nme = NME(norm_mode="keypoint_distance")  # no pair: computing fails on rank 0, every rank raises
nme.process([result(i) for i in padded[rank::world]])
try:
    nme.evaluate()
except ConfigError as e:
    out["error"] = str(e)
print(json.dumps(out))
dist.destroy_process_group()
"""


def test_gather_across_ranks(tmp_path: Path) -> None:
    """Two gloo ranks: dataset order restored, the padded duplicate dropped, the same metrics (or error) on
    every rank."""
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), "2", str(tmp_path / "init")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for rank in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    for out, _ in outputs:
        got = json.loads(out)
        assert got["gathered"] == [0, 1, 2, 3, 4]
        assert got["epe"] == pytest.approx(2 * np.sqrt(2), rel=1e-6)
        assert "no keypoint_indices and no default pair" in got["error"]
