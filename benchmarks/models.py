"""Backbone forward speed at 256x192: posekit eager vs optimised, beside MMPose's figures.

For ResNet-50, HRNet-w32 and CSPNeXt-m (RTMPose-m's backbone): parameters, forward GFLOPs
(torch's FlopCounterMode: multiply and add counted separately, i.e. 2 x MACs, as BASELINES.md),
median latency at batch 1 and 8 (torch.inference_mode, after warm-up), and achieved GFLOP/s as
a fraction of this machine's fp32 matmul peak (2048 x 2048, measured in the same run). Each
inference trick (channels_last, BatchNorm folded into convs, both = ``optimize_for_inference``,
TorchScript freeze, optionally torch.compile) is timed separately and its outputs are checked
against eager within 1e-4 * max|eager|.

MMPose's figures (../shared/BASELINES.md, MMPose 1.3.2 eager fp32 on this machine class) are
for whole models (backbone + head); the ratio column scales them by the backbone's share of
the model's FLOPs, an estimate of MMPose's backbone time. The mobile backbones (MobileNetV2,
ShuffleNetV2, LiteHRNet-18) and ViTPose-B's ViT (mmpretrain's, as MMPose builds it) have no such
figures: MMPose's same backbone is timed in the same run instead, in MMPose's own environment
(``--mmpose PYTHON``, default ``~/.cache/posekit/mmpose-env/bin/python`` from
``benchmarks/mmpose_env.sh``; ``mmpose_worker.py``). Target: batch-8 >= 1.3x MMPose.

    python benchmarks/models.py [--reps 10] [--warmup 2] [--models resnet50 ... shufflenetv2] [--compile]
        [--mmpose PYTHON]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from _examples import HRNET_W32, example_model, randomize_norms
from _machine import interleaved_medians, machine_line, matmul_peak_gflops
from _mmpose import DEFAULT_MMPOSE
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from posekit.nn import fuse_conv_bn, optimize_for_inference
from posekit.registry import build

INPUT = (3, 256, 192)
TOL = 1e-4


#: Lite-HRNet-18's ``extra`` as MMPose's td-hm_litehrnet-18 configs write it
LITEHRNET_18 = {
    "stem": {"stem_channels": 32, "out_channels": 32, "expand_ratio": 1},
    "num_stages": 3,
    "stages_spec": {
        "num_modules": (2, 4, 2),
        "num_branches": (2, 3, 4),
        "num_blocks": (2, 2, 2),
        "module_type": ("LITE", "LITE", "LITE"),
        "with_fuse": (True, True, True),
        "reduce_ratios": (8, 8, 8),
        "num_channels": ((40, 80), (40, 80, 160), (40, 80, 160, 320)),
    },
    "with_head": True,
}


@dataclass(frozen=True)
class Case:
    """A backbone config and MMPose's figures for the model it belongs to (BASELINES.md); without
    figures (``mmpose_model`` None), MMPose's same backbone is timed in the same run."""

    title: str
    cfg: dict[str, Any]
    mmpose_model: str | None = None
    mmpose_gflops: float = 0.0
    mmpose_b1_ms: float = 0.0
    mmpose_b8_ms: float = 0.0
    mmpose_type: str | None = None  # MMPose's (scoped) name when it differs from posekit's


CASES = {
    "resnet50": Case("ResNet-50", {"type": "ResNet", "depth": 50}, "SimpleBaseline ResNet-50", 10.85, 119, 684),
    "hrnet-w32": Case("HRNet-w32", example_model(HRNET_W32)["backbone"], "HRNet-w32", 15.29, 181, 856),
    "cspnext-m": Case(
        "CSPNeXt-m",
        {"type": "CSPNeXt", "deepen_factor": 0.67, "widen_factor": 0.75, "out_indices": (4,), "expand_ratio": 0.5},
        "RTMPose-m (CSPNeXt-m + RTMCCHead)",
        3.84,
        42,
        258,
    ),
    "mobilenetv2": Case("MobileNetV2", {"type": "MobileNetV2", "widen_factor": 1.0, "out_indices": (7,)}),
    "shufflenetv2": Case("ShuffleNetV2", {"type": "ShuffleNetV2", "widen_factor": 1.0, "out_indices": (3,)}),
    "litehrnet-18": Case("LiteHRNet-18", {"type": "LiteHRNet", "extra": LITEHRNET_18}),
}
#: transformer backbones (posekit-vit): MMPose's same backbone, under its scoped name, timed in the same run
VIT_CASES = {
    "vitpose-b": Case(
        "ViTPose-B (ViT-B/16)",
        {"type": "VisionTransformer", "arch": "base", "img_size": (256, 192), "patch_size": 16, "qkv_bias": True,
         "with_cls_token": False, "out_type": "featmap", "patch_cfg": {"padding": 2}},
        mmpose_type="mmpretrain.VisionTransformer",
    ),
}  # fmt: skip


def mmpose_backbone_ms(python: str, cfg: dict[str, Any], warmup: int, reps: int) -> dict[str, Any]:
    """MMPose's own forward of backbone ``cfg`` at batch 1 and 8 (``mmpose_worker.py`` under ``python``)."""
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mmpose_worker.py")
    cmd = {"backbone": cfg, "input": list(INPUT), "batches": [1, 8], "warmup": warmup, "reps": reps}
    done = subprocess.run(
        [python, worker], input=json.dumps(cmd) + "\n", capture_output=True, text=True, check=False, timeout=1800
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"{worker} under {python} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.splitlines()[-1])


def median_ms(fn: Callable[[], Any], warmup: int, reps: int) -> float:
    return interleaved_medians({"fn": fn}, reps, warmup)["fn"]


def check_threads() -> None:
    """Re-run once in a fresh process when torch's OpenMP threads share one vCPU (BASELINES.md fault)."""
    x = torch.ones(1 << 20)
    ms = median_ms(lambda: x.add_(1.0), 5, 30)
    if ms > 2.0 and torch.get_num_threads() > 1:
        if os.environ.get("POSEKIT_BENCH_RETRY"):
            print(f"WARNING: a tiny parallel op takes {ms:.1f} ms: threads share a vCPU; figures are unreliable")
            return
        print(f"tiny parallel op took {ms:.1f} ms (threads on one vCPU?): restarting in a fresh process")
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "POSEKIT_BENCH_RETRY": "1"})


def forward_gflops(model: nn.Module, x: Tensor) -> float:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() / 1e9


def variants(model: nn.Module, x: Tensor, use_compile: bool) -> dict[str, Callable[[], nn.Module]]:
    """Name -> builder of an inference model (each from a fresh copy of ``model``)."""

    def channels_last() -> nn.Module:
        m = copy.deepcopy(model).to(memory_format=torch.channels_last)
        m.register_forward_pre_hook(lambda _, args: (args[0].contiguous(memory_format=torch.channels_last),))
        return m

    def jit_freeze() -> nn.Module:
        m = optimize_for_inference(copy.deepcopy(model))
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace is deprecated in torch 2.13
            return torch.jit.freeze(torch.jit.trace(m, x, check_trace=False))

    def compiled() -> nn.Module:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True  # weights as constants: conv + BN/ReLU/add fusions
        return torch.compile(optimize_for_inference(copy.deepcopy(model)), dynamic=False)

    table: dict[str, Callable[[], nn.Module]] = {
        "eager": lambda: model,
        "channels_last": channels_last,
        "fused BN": lambda: fuse_conv_bn(copy.deepcopy(model)),
        "fused BN + channels_last": lambda: optimize_for_inference(copy.deepcopy(model)),
        "  + jit.trace/freeze": jit_freeze,
    }
    if use_compile:
        table["  + torch.compile"] = compiled
    return table


def max_rel_error(out: tuple[Tensor, ...], ref: tuple[Tensor, ...]) -> float:
    return max(float((o - r).abs().max() / r.abs().max()) for o, r in zip(out, ref, strict=True))


def bench_backbone(case: Case, peak: float, args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    model = build("backbone", case.cfg).eval()
    randomize_norms(model)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    x1, x8 = torch.randn(1, *INPUT), torch.randn(8, *INPUT)
    gflops = forward_gflops(model, x1)
    print(f"\n{case.title} backbone, {INPUT[1]}x{INPUT[2]}: {params:.1f} M params, {gflops:.2f} GFLOPs/img (b1)")
    models: dict[str, nn.Module] = {}
    errors: dict[str, float] = {}
    with torch.inference_mode():
        ref8 = model(x8)
        for name, make in variants(model, x1, args.compile).items():
            try:
                models[name] = make()
                errors[name] = max_rel_error(models[name](x8), ref8)
            except Exception as e:  # a trick unavailable here (e.g. no compiler): report, go on
                print(f"  {name:<26} unavailable: {type(e).__name__}: {str(e).splitlines()[0][:80]}")
                models.pop(name, None)
        b1 = interleaved_medians({n: (lambda m=m: m(x1)) for n, m in models.items()}, args.reps, args.warmup)
        b8 = interleaved_medians({n: (lambda m=m: m(x8)) for n, m in models.items()}, args.reps, args.warmup)
    print(f"  {'variant':<26}{'b1 ms':>8}{'b8 ms':>9}{'b8 GFLOP/s':>12}{'% peak':>8}{'b8 vs eager':>13}{'max err':>10}")
    for name in models:
        rate = 8 * gflops / (b8[name] * 1e-3)
        ok = "ok" if errors[name] <= TOL else "FAIL"
        print(
            f"  {name:<26}{b1[name]:8.1f}{b8[name]:9.1f}{rate:12.1f}{100 * rate / peak:7.0f}%"
            f"{b8['eager'] / b8[name]:12.2f}x{errors[name]:10.1e} {ok}"
        )
    best = min((n for n in models if errors[n] <= TOL), key=lambda n: b8[n])
    if case.mmpose_model is None:
        compare_measured(case, model, b1, b8, best, args)
        return
    share = gflops / case.mmpose_gflops
    est_b8 = case.mmpose_b8_ms * share
    print(
        f"  MMPose {case.mmpose_model}: {case.mmpose_gflops} GFLOPs, b1 {case.mmpose_b1_ms} ms, "
        f"b8 {case.mmpose_b8_ms} ms (whole model); backbone = {100 * share:.0f}% of its FLOPs "
        f"-> est. MMPose backbone b8 {est_b8:.0f} ms"
    )
    print(
        f"  best posekit b8 ({best.strip()}) {b8[best]:.1f} ms: {est_b8 / b8[best]:.2f}x the estimated MMPose backbone "
        f"({case.mmpose_b8_ms / b8[best]:.2f}x its whole model); target >= 1.3x"
    )


def compare_measured(
    case: Case, model: nn.Module, b1: dict[str, float], b8: dict[str, float], best: str, args: argparse.Namespace
) -> None:
    """posekit's figures against MMPose's same backbone timed now, in MMPose's environment."""
    if not os.path.exists(args.mmpose):
        print(f"  MMPose: no environment at {args.mmpose} (bash benchmarks/mmpose_env.sh makes one); no ratio")
        return
    cfg = {**case.cfg, "type": case.mmpose_type or case.cfg["type"]}
    ref = mmpose_backbone_ms(args.mmpose, cfg, args.reps, args.warmup)
    params = sum(p.numel() for p in model.parameters())
    if ref["params"] != params:
        print(f"  WARNING: MMPose's {case.title} has {ref['params']} parameters, posekit's {params}")
    m1, m8 = ref["ms"]["1"], ref["ms"]["8"]
    print(f"  MMPose 1.3.2 {case.title} backbone (eager, measured now): b1 {m1:.1f} ms, b8 {m8:.1f} ms")
    print(
        f"  posekit eager: b1 {m1 / b1['eager']:.2f}x, b8 {m8 / b8['eager']:.2f}x MMPose; best ({best.strip()}): "
        f"b1 {m1 / b1[best]:.2f}x, b8 {m8 / b8[best]:.2f}x; target >= 1.3x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10, help="timed runs per figure (median)")
    parser.add_argument("--warmup", type=int, default=2)
    cases = {**CASES, **VIT_CASES}
    parser.add_argument("--models", nargs="+", choices=sorted(cases), default=list(cases))
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (needs a C++ compiler; slow)")
    parser.add_argument("--mmpose", default=DEFAULT_MMPOSE, help="Python of MMPose's environment (mobile backbones)")
    args = parser.parse_args()
    check_threads()
    peak = matmul_peak_gflops(max(args.reps, 10))
    print(machine_line(peak))
    for key in args.models:
        bench_backbone(cases[key], peak, args)


if __name__ == "__main__":
    main()
