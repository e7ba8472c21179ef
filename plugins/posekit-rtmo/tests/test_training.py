"""Both heads train end to end on synthetic multi-person images through ``posekit train`` (two iterations)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

import posekit.cli
from posekit.config import load_config

LOSSES = {
    "synthetic_rtmo": {"loss_cls", "loss_bbox", "loss_vis", "loss_oks", "loss_mle"},
    "synthetic_yoloxpose": {"loss_obj", "loss_cls", "loss_bbox", "loss_vis", "loss_kpt"},
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_two_iterations(name: str, small_config: Callable[[str, Path], Path], tmp_path: Path) -> None:
    cfg = small_config(name, tmp_path / "work")
    args = ["train", str(cfg), "--set", "train.max_iters=2", "--set", "data.train.batch_size=2"]
    assert posekit.cli.main([*args, "--set", "train.progress=false"]) == 0
    records = [json.loads(line) for line in (tmp_path / "work" / "scalars.jsonl").read_text().splitlines()]
    train = [r for r in records if "loss" in r]
    assert len(train) >= 1
    last = train[-1]
    assert LOSSES[name] <= set(last), f"{name}: logged {sorted(last)}"
    assert all(math.isfinite(last[k]) for k in LOSSES[name])
    assert any((tmp_path / "work").glob("*.pth"))


def test_config_check_refuses_a_codec_the_head_cannot_decode(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cfg = Path(__file__).resolve().parents[1] / "configs" / "synthetic_rtmo.yaml"
    load_config(cfg)  # the shipped config is valid
    bad = "model.head.decoder={type: SimCCLabel, input_size: [256, 256]}"
    assert posekit.cli.main(["config", "check", str(cfg), "--set", bad]) != 0
    err = capsys.readouterr().err
    assert "RTMOHead cannot decode with codec SimCCLabel" in err
