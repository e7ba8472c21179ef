"""The shipped synthetic configs (``configs/synthetic_<family>.yaml``, what ``benchmarks/bottomup_learning.py``
trains) validate and train: two iterations of each at 64x64 inputs on a tiny synthetic set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from posekit.cli import main
from posekit.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("synthetic_*.yaml"))
LOSSES = {
    "synthetic_ae": {"loss_kpt", "loss_pull", "loss_push"},
    "synthetic_cid": {"loss/heatmap_coupled", "loss/heatmap_decoupled", "loss/contrastive"},
    "synthetic_dekr": {"loss/heatmap", "loss/displacement"},
}


def test_every_family_has_a_config() -> None:
    assert {p.stem for p in CONFIGS} == set(LOSSES)


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``posekit data synth``: 4 training and 2 validation multi-person images of 64x64."""
    out = tmp_path_factory.mktemp("synth") / "synthetic"
    assert main(["data", "synth", "--out", str(out), "--num-train", "4", "--num-val", "2", "--size", "64x64"]) == 0
    return out


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_two_iterations(path: Path, synth_data: Path, tmp_path: Path) -> None:
    load_config(path)  # valid as shipped
    text = path.read_text()
    for size in (64, 128, 256):  # every input and heatmap size at 1/4
        text = text.replace(f"[{size}, {size}]", f"[{size // 4}, {size // 4}]")
    cfg = yaml.safe_load(text.replace("data/synthetic", str(synth_data)))
    cfg["work_dir"] = str(tmp_path / "run")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    sets = ["train.max_iters=2", "data.train.batch_size=2", "data.train.num_workers=0", "train.progress=false"]
    assert main(["train", str(config), *(a for s in sets for a in ("--set", s))]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "scalars.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["mode"] == "train"]
    assert train and LOSSES[path.stem] <= set(train[-1]) and all(math.isfinite(r["loss"]) for r in train)
