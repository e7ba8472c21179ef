"""Optimizer parameter groups, the per-iteration LR schedule and ExpMomentumEMA (no training loop)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from posekit.config.schema import OptimizerCfg, SchedulerCfg
from posekit.engine.ema import ExpMomentumEMA
from posekit.engine.optim import LRSchedule, build_optimizer, param_groups


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1), nn.GroupNorm(1, 2))


def test_decay_multipliers_follow_mmengine() -> None:
    net = _net()
    net[3].weight.requires_grad_(False)  # frozen parameters are left out
    cfg = OptimizerCfg(type="SGD", lr=0.1, weight_decay=1e-4, norm_decay_mult=0.0, bias_decay_mult=0.5)
    groups = {g["weight_decay"]: [id(p) for p in g["params"]] for g in param_groups(net, cfg)}
    assert groups[1e-4] == [id(net[0].weight)]
    assert groups[0.5e-4] == [id(net[0].bias), id(net[3].bias)]
    assert groups[0.0] == [id(p) for p in (net[1].weight, net[1].bias, net[4].weight, net[4].bias)]
    opt = build_optimizer(net, cfg)
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9


@pytest.mark.parametrize(("name", "cls"), [("Adam", torch.optim.Adam), ("AdamW", torch.optim.AdamW)])
def test_adam_variants(name: str, cls: type) -> None:
    opt = build_optimizer(_net(), OptimizerCfg(type=name, lr=1e-3, weight_decay=0.05, betas=(0.8, 0.9)))
    assert type(opt) is cls and opt.defaults["betas"] == (0.8, 0.9)


def test_no_trainable_parameters_is_an_error() -> None:
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer(_net().requires_grad_(False), OptimizerCfg())


def lr_factor(cfg: SchedulerCfg, iteration: int, iters_per_epoch: int, total_iters: int) -> float:
    """The LR of a group whose base LR is 1 during ``iteration`` of a run of ``total_iters``."""
    return LRSchedule(cfg, iters_per_epoch, total_iters // iters_per_epoch, total_iters)(iteration, 1.0)


def test_linear_warmup_as_mmengine_linear_lr() -> None:
    cfg = SchedulerCfg(warmup_iters=10, warmup_ratio=0.001)
    assert lr_factor(cfg, 0, 100, 1000) == pytest.approx(0.001)
    assert lr_factor(cfg, 5, 100, 1000) == pytest.approx(0.001 + 0.999 * 0.5)
    assert lr_factor(cfg, 10, 100, 1000) == pytest.approx(1.0)  # chained as MMEngine: rounding


def test_step_and_multistep_in_epochs() -> None:
    step = SchedulerCfg(policy="step", step=2, gamma=0.5)
    assert [lr_factor(step, e * 10, 10, 100) for e in range(5)] == [1, 1, 0.5, 0.5, 0.25]
    multi = SchedulerCfg(policy="multistep", milestones=(3, 4), gamma=0.1)
    assert [lr_factor(multi, e * 10 + 9, 10, 100) for e in range(6)] == pytest.approx([1, 1, 1, 0.1, 0.01, 0.01])


def test_cosine_per_iteration_with_floor_and_begin() -> None:
    cos = SchedulerCfg(policy="cosine", min_lr_ratio=0.05)
    assert lr_factor(cos, 0, 10, 100) == 1.0
    assert lr_factor(cos, 50, 10, 100) == pytest.approx(0.05 + 0.95 * 0.5)
    assert lr_factor(cos, 99, 10, 100) == pytest.approx(0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * 0.99)))
    flat_then_cos = SchedulerCfg(policy="cosine", cosine_begin=5)
    assert lr_factor(flat_then_cos, 49, 10, 100) == 1.0
    assert lr_factor(flat_then_cos, 75, 10, 100) == pytest.approx(0.5)


def test_phases_and_short_form_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        SchedulerCfg(phases=[{"type": "ConstantLR", "factor": 0.5}], policy="cosine")
    with pytest.raises(ValueError, match=r"end \(5\) must be larger than begin"):
        SchedulerCfg(phases=[{"type": "LinearLR", "begin": 5, "end": 5}])


def test_per_group_base_lrs_share_an_absolute_cosine_floor() -> None:
    """``eta_min`` is an LR, not a fraction: a group already at the floor stays there (RTMO's encoder)."""
    cos = SchedulerCfg(phases=[{"type": "CosineAnnealingLR", "eta_min": 0.1, "by_epoch": False}])
    schedule = LRSchedule(cos, 10, 10, 100)
    assert schedule(50, 1.0) == pytest.approx(0.1 + 0.9 * 0.5)
    assert schedule(50, 0.1) == pytest.approx(0.1)
    assert schedule(20, 1.0) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.2)))  # replayed from 0


def test_exp_momentum_ema_matches_mmpose_formula() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = ExpMomentumEMA(model, momentum=0.01, gamma=4)
    ema.update_parameters(model)  # the first update copies
    expected = model[0].weight.detach().clone()
    for step in range(1, 5):
        with torch.no_grad():
            model[0].weight.add_(1.0)
            model[1].running_mean.add_(1.0)
        ema.update_parameters(model)
        m = (1 - 0.01) * math.exp(-(1 + step) / 4) + 0.01
        expected = expected + m * (model[0].weight.detach() - expected)
        torch.testing.assert_close(ema.module[0].weight, expected)
    assert torch.equal(ema.module[1].running_mean, model[1].running_mean)  # buffers copied, not averaged
    assert int(ema.steps) == 5
    raw = model[0].weight.detach().clone()
    ema.swap(model)
    torch.testing.assert_close(model[0].weight, expected)
    assert torch.equal(ema.module[0].weight, raw)


def test_dynamic_val_intervals_as_mmengine() -> None:
    """RTMO's ``dynamic_intervals=[(580, 1)]``: every 20 epochs, then every epoch from the 580th (1-based)."""
    from posekit.config.schema import TrainSection

    train = TrainSection(epochs=600, val_interval=20, dynamic_intervals=((580, 1),))
    validated = [e for e in range(600) if (e + 1) % train.val_interval_at(e) == 0]
    assert validated[:2] == [19, 39] and validated[27:30] == [559, 579, 580] and validated[-1] == 599
    assert len(validated) == 28 + 21


def test_an_unknown_phase_names_the_distribution_of_mmposes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A phase name no installed plugin registers: the error lists the installed ones and, when the
    distribution of MMEngine's and MMPose's phases is not installed, names it."""
    from posekit import shipped

    monkeypatch.setitem(shipped.KIND_PROVIDERS, "lr_phase", "posekit-not-installed")
    with pytest.raises(ValueError, match=r"LinearLR.*pip install posekit-not-installed"):
        SchedulerCfg(phases=[{"type": "NoSuchLR"}])
