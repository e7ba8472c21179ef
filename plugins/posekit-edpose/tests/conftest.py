"""Shared fixtures: the plugin's synthetic configs shrunk to 64x64 inputs, and a tiny synthetic COCO set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import posekit.cli

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``posekit data synth``: 4 training and 2 validation multi-person images of 128x128."""
    out = tmp_path_factory.mktemp("synth") / "synthetic"
    args = ["data", "synth", "--out", str(out), "--num-train", "4", "--num-val", "2", "--size", "128x128"]
    assert posekit.cli.main(args) == 0
    return out


@pytest.fixture
def small_config(synth_data: Path) -> Callable[[str, Path], Path]:
    """``small_config(name, work_dir)``: ``configs/<name>.yaml`` at 64x64 inputs on :func:`synth_data`."""
    return lambda name, work_dir: _small_config(name, synth_data, work_dir)


def _small_config(name: str, data: Path, work_dir: Path) -> Path:
    text = (CONFIGS / f"{name}.yaml").read_text().replace("[256, 256]", "[64, 64]")
    cfg = yaml.safe_load(text.replace("data/synthetic", str(data)))
    cfg["work_dir"] = str(work_dir)
    path = work_dir / f"{name}.yaml"
    work_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path
