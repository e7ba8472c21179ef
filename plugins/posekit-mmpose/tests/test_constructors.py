"""Optimizer constructors (``optim.optimizer.constructor``): each parameter's LR and weight decay as MMEngine's.

Reference: ``fixtures/param_groups.json`` from ``fixtures/gen_param_groups.py`` (MMEngine 0.10.7's
``DefaultOptimWrapperConstructor``, MMPose 1.3.2's ``ForceDefaultOptimWrapperConstructor``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from posekit.config.schema import OptimizerCfg
from posekit.engine.optim import build_optimizer

FIXTURES = Path(__file__).parent / "fixtures"
CASES: list[dict[str, Any]] = json.loads((FIXTURES / "param_groups.json").read_text())


def _tiny_model() -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location("gen_param_groups", FIXTURES / "gen_param_groups.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tiny_model()


@pytest.mark.parametrize("case", CASES, ids=[f"{c['type']}-{i}" for i, c in enumerate(CASES)])
def test_param_groups_match_mmengine(case: dict[str, Any]) -> None:
    model = _tiny_model()
    cfg = OptimizerCfg(**case["optimizer"], constructor={"type": case["type"], **case["paramwise_cfg"]})
    optimizer = build_optimizer(model, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    got = {
        names[id(p)]: {"lr": g["lr"], "weight_decay": g["weight_decay"]}
        for g in optimizer.param_groups
        for p in g["params"]
    }
    assert got.keys() == case["params"].keys()
    for name, expected in case["params"].items():
        assert got[name] == pytest.approx(expected, rel=1e-12), f"param_groups.json ({case['type']}): {name}"


def test_constructor_and_optimizer_mults_are_exclusive() -> None:
    with pytest.raises(ValueError, match="norm_decay_mult: give it to the constructor"):
        OptimizerCfg(norm_decay_mult=0.0, constructor={"type": "DefaultOptimWrapperConstructor"})


def test_unknown_constructor_argument_is_refused() -> None:
    with pytest.raises(ValueError, match="lr_multt"):
        OptimizerCfg(constructor={"type": "DefaultOptimWrapperConstructor", "custom_keys": {"a": {"lr_multt": 1}}})
