"""PCK / AUC / EPE / NME functions against MMPose 1.3.2; records gathered across ranks (OKS NMS: posekit-datasets).

Reference: shared/fixtures/mmpose/metrics/pck_<tag>.npz (see the README
there), the outputs of ``mmpose.evaluation.functional``. Tolerance: 1e-6 (relative).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posekit.metrics.functional import (
    keypoint_auc,
    keypoint_epe,
    keypoint_nme,
    keypoint_pck_accuracy,
)

PCK_FIXTURES = ("pck_mpii-pckh0.5.npz", "pck_onehand10k-pck0.2.npz")


@pytest.mark.parametrize("name", PCK_FIXTURES)
def test_functional_pck_auc_epe_nme(posekit_reference: Any, shared: Path, name: str) -> None:
    z = posekit_reference.metric_fixture(shared, name)
    pred, gt, mask = z["pred"], z["gt"], z["mask"]
    acc, avg_acc, cnt = keypoint_pck_accuracy(pred, gt, mask, float(z["thr"]), z["normalize"])
    posekit_reference.assert_metric_close(acc, z["pck_acc"], f"{name}: pck_acc")
    posekit_reference.assert_metric_close(avg_acc, z["pck_avg_acc"], f"{name}: pck_avg_acc")
    assert cnt == int(z["pck_cnt"]), name
    auc = keypoint_auc(pred, gt, mask, float(z["auc_norm_factor"]), int(z["auc_num_thrs"]))
    posekit_reference.assert_metric_close(auc, z["auc"], f"{name}: auc")
    posekit_reference.assert_metric_close(keypoint_epe(pred, gt, mask), z["epe"], f"{name}: epe")
    posekit_reference.assert_metric_close(keypoint_nme(pred, gt, mask, z["normalize"]), z["nme"], f"{name}: nme")


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
from posekit.registry import build
from posekit.structures import PoseResult, PoseSample

def result(i):
    gt = np.zeros((1, 3, 2), np.float32)
    sample = PoseSample(img_id=i, id=i, keypoints=gt, keypoints_visible=np.ones((1, 3), np.float32))
    return PoseResult(gt + i, np.ones((1, 3)), np.zeros((1, 4)), np.ones(1), sample)

padded = [0, 1, 2, 3, 4, 0]  # 5 samples padded to 6: EPE = mean(i * sqrt(2)) over 0..4
epe = build("metric", {"type": "EPE"})
epe.process([result(i) for i in padded[rank::world]])
out["epe"] = epe.evaluate()["EPE"]
# no pair: computing fails on rank 0, every rank raises
nme = build("metric", {"type": "NME", "norm_mode": "keypoint_distance"})
nme.process([result(i) for i in padded[rank::world]])
try:
    nme.evaluate()
except ConfigError as e:
    out["error"] = str(e)
print(json.dumps(out))
from posekit.engine.dist import leave_group  # destroys the group without gloo's exit-time abort
leave_group()
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
