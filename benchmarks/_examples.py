"""The models the benchmarks time, read from the shipped example configs (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posekit.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "configs"


def example_model(name: str) -> dict[str, Any]:
    """A fresh copy of the ``model`` dict of ``examples/configs/<name>.yaml`` (validated)."""
    return load_config(CONFIGS / f"{name}.yaml").model


RESNET50 = "simplebaseline_res50_coco-256x192"
HRNET_W32 = "hrnet-w32_coco-256x192"
RTMPOSE_M = "rtmpose-m_coco-256x192"
MAIN_JOB = "synthetic_rtmpose"  # scripts/main.sh's model
