"""Two ``torchrun`` processes on CPU (gloo) train the same weights as one process with the same global batch.

Why they match: the sampler permutes the dataset with ``seed + epoch`` and rank ``r`` of 2
takes positions ``r, r + 2, ...``, so one step of 2 ranks x 4 samples sees exactly the 8
samples one process sees in a batch of 8; augmentation noise is seeded per sample (not per
rank); the tiny model has no BatchNorm (LayerNorm is per sample) and no dropout; the loss is
a mean, and DDP averages the two ranks' gradients, which is the gradient of the mean over 8.
Only the order of floating-point sums differs, hence a 1e-6 tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def test_two_process_run_matches_one_process(tiny: Any, tmp_path: Path) -> None:
    cfg = tiny.config(
        tmp_path / "unused",
        optim={"optimizer": {"type": "AdamW", "lr": 0.01, "weight_decay": 0.01}, "clip_grad": 1.0},
        train={"epochs": 2, "progress": False},
        hooks={"checkpoint": {"save_best": "tiny/score"}, "logger": {"interval": 1}},
    )
    cfg["data"]["train"]["dataset"]["num_samples"] = 32
    cfg["data"]["val"]["dataset"]["num_samples"] = 7  # uneven shards: 4 + 3 samples
    path = tiny.write(tmp_path / "cfg.json", cfg)
    one, two = tmp_path / "one", tmp_path / "two"

    single = tiny.run_cli(["train", str(path), "--work-dir", str(one), "--set", "data.train.batch_size=8"])
    assert single.returncode == 0, single.stderr
    launcher = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "posekit")
    double = tiny.run_cli(
        ["train", str(path), "--work-dir", str(two), "--set", "data.train.batch_size=4"], launcher=launcher
    )
    assert double.returncode == 0, double.stderr

    a = torch.load(one / "epoch_2.pth", map_location="cpu", weights_only=True)
    b = torch.load(two / "epoch_2.pth", map_location="cpu", weights_only=True)
    assert a["loop"]["iteration"] == b["loop"]["iteration"] == 8
    assert b["loop"]["world_size"] == 2
    for k, v in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][k], v, rtol=1e-5, atol=1e-6, msg=f"{k} differs")

    # validation metrics are gathered over both ranks' shards: the same numbers
    rows = [[json.loads(s) for s in (w / "scalars.jsonl").read_text().splitlines()] for w in (one, two)]
    val = [[r for r in log if r["mode"] == "val"] for log in rows]
    assert len(val[0]) == len(val[1]) == 2
    for ra, rb in zip(*val, strict=True):
        assert abs(ra["tiny/mae"] - rb["tiny/mae"]) < 1e-5
    assert a["best"]["epoch"] == b["best"]["epoch"]
    # only rank 0 writes files
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
