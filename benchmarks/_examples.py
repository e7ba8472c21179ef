"""The models the benchmarks time, read from the shipped example configs (one definition each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from posekit.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "configs"


def example_model(name: str) -> dict[str, Any]:
    """A fresh copy of the ``model`` dict of ``examples/configs/<name>.yaml`` (validated)."""
    return load_config(CONFIGS / f"{name}.yaml").model


RESNET50 = "simplebaseline_res50_coco-256x192"
HRNET_W32 = "hrnet-w32_coco-256x192"
RTMPOSE_M = "rtmpose-m_coco-256x192"
MAIN_JOB = "synthetic_rtmpose"  # scripts/main.sh's model


def randomize_norms(model: nn.Module) -> None:
    """Random BatchNorm statistics and affine terms (default init is 0/1), so folding them is really exercised."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
