"""EDPoseHead's set-prediction losses: they fall when a tiny model fits one batch, and ``posekit train`` runs
the small config end to end (two iterations). MMPose 1.3.2 has no ED-Pose loss to compare with."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import yaml
from posekit_edpose.edpose_head import EDPoseHead

import posekit.cli
from posekit.registry import build
from posekit.structures import TrainCfg

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic_edpose.yaml"
LOSSES = {"loss_cls", "loss_bbox", "loss_giou", "loss_kpt", "loss_enc", "loss_d0", "loss_d1"}


def test_losses_fall_on_one_batch() -> None:
    torch.manual_seed(0)
    head = build("head", dict(EDPoseHead.example_config, type="EDPoseHead")).train()
    inputs = EDPoseHead.example_inputs()
    feats = tuple(torch.randn(2, *s) for s in inputs["feat_shapes"])
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3)
    totals = []
    for _ in range(4):
        losses = head.loss(feats, inputs["batch"], TrainCfg())
        assert set(losses) == LOSSES
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(float(total.detach()))
    assert all(math.isfinite(t) for t in totals)
    assert totals[-1] < 0.9 * totals[0], totals


def test_two_iterations(tmp_path: Path) -> None:
    """The shipped config at 64x64 inputs on 2 synthetic images (``posekit data synth``)."""
    data = tmp_path / "synthetic"
    assert posekit.cli.main(["data", "synth", "--out", str(data), "--num-train", "2", "--num-val", "1"]) == 0
    text = CONFIG.read_text().replace("[256, 256]", "[64, 64]").replace("data/synthetic", str(data))
    cfg = tmp_path / "edpose.yaml"
    cfg.write_text(yaml.safe_dump({**yaml.safe_load(text), "work_dir": str(tmp_path / "work")}))
    args = ["train", str(cfg), "--set", "train.max_iters=2", "--set", "data.train.batch_size=2"]
    assert posekit.cli.main([*args, "--set", "train.progress=false"]) == 0
    records = [json.loads(line) for line in (tmp_path / "work" / "scalars.jsonl").read_text().splitlines()]
    last = [r for r in records if "loss" in r][-1]
    assert LOSSES <= set(last) and all(math.isfinite(last[k]) for k in LOSSES)
