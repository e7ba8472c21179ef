"""Training step speed and throughput (images/s): data preprocessor + forward + loss + backward + AdamW step.

256x192 crops at batch 8, and the main job's model (``main-job``: ``examples/configs/synthetic_rtmpose.yaml``,
128x96 crops, its training batch of 32; BASELINES.md has no figure for it, so ``--mmpose`` gives its ratio).

Models and losses as MMPose's configs: SimpleBaseline ResNet-50 and HRNet-w32 (HeatmapHead,
MSRAHeatmap sigma 2, KeypointMSELoss with target weights) and RTMPose-m (CSPNeXt-m, deepen 0.67,
widen 0.75, + RTMCCHead in_channels 768, in_featuremap_size (6, 8); SimCCLabel; KLDiscretLoss beta
10 with label_softmax). The batch is 8 uint8 crops with the codec's targets of random keypoints;
each step is ``model.data_preprocessor`` -> ``model(mode="loss")`` (the loss plus MMPose's
``acc_pose``) -> ``backward`` -> ``AdamW.step``.

Variants (each its own copy of the same weights, timed interleaved A B C A B C ... so drift on a
shared machine hits all alike; median of ``--reps`` steps after ``--warmup``):

- ``eager``: NCHW tensors, AdamW's default implementation (not fused);
- ``channels_last``: model and inputs in the channels_last memory format (oneDNN's native layout);
- ``trainer (channels_last + fused AdamW)``: what ``posekit train`` does by default
  (``train.channels_last``, and ``optim.optimizer.fused`` picking ``AdamW(fused=True)``, one
  vectorised kernel per step), built with the trainer's own ``use_channels_last`` and ``build_optimizer``;
- ``--extra`` adds ``no oneDNN`` (``torch.backends.mkldnn.enabled = False``, eager) and
  ``... + flush denormals`` (``torch.set_flush_denormal(True)``) for comparison.

Freed host memory is retained for reuse in the whole process, as ``posekit train`` does
(``train.retain_host_memory``, :func:`posekit.engine.host_memory.retain_freed_memory`), so every
variant runs on it; ``--glibc-defaults`` leaves glibc's malloc alone, to compare in a separate run.
Likewise the trainer's default ``train.deterministic`` (deterministic algorithms, fresh tensors left
unfilled) holds for the whole process, through the trainer's own ``seed_everything``.
The ``faults`` column is the mean number of minor page faults per step.

None may change the maths beyond float rounding. Before timing, every variant's first step is
compared with eager's twice: in float64 at batch 2, where the loss, every gradient and the AdamW
step must agree to 1e-9 (the same maths), and in float32 at batch 8, where the loss must agree to
1e-5 and one AdamW step from eager's gradients to 1e-6. Float32 gradients are shown, not bounded:
at random init they are ill-conditioned (rounding can flip ReLU and max-pool decisions, and
BatchNorm over near-constant channels amplifies it); eager float32 itself differs from float64 by
~1e-2 in L2 for HRNet-w32.

MMPose's figures are from ../shared/BASELINES.md (MMPose 1.3.2, 2 threads, this machine class);
the target is >= 1.2x. BASELINES.md asks for ratios measured in the same run, as its figures drift by
up to 15%: ``--mmpose PYTHON`` times MMPose's own training step as one more interleaved variant, in a
child process under an environment holding MMPose (``benchmarks/mmpose_env.sh`` makes one), built
from the same model dict (``mmpose_worker.py``); its parameter count must equal posekit's.

Before timing, a tiny parallel op is timed: when it takes milliseconds, torch's two OpenMP threads
sit on one vCPU (the fault described in BASELINES.md), and the script
restarts itself (up to 3 times) with the threads pinned to cores (``OMP_PROC_BIND=close
OMP_PLACES=cores``).

    python benchmarks/train_step.py [--reps 5] [--warmup 2] [--models resnet50 hrnet-w32 rtmpose-m main-job]
                                    [--threads N] [--extra] [--glibc-defaults] [--mmpose PYTHON]
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from _examples import HRNET_W32, MAIN_JOB, RESNET50, RTMPOSE_M, example_model
from _machine import tiny_parallel_op_ms
from _mmpose import MMPoseWorker
from torch import Tensor, nn

from posekit.config.schema import OptimizerCfg, TrainSection
from posekit.engine.host_memory import retain_freed_memory
from posekit.engine.optim import build_optimizer
from posekit.engine.runtime import seed_everything
from posekit.nn.fuse import use_channels_last
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample

BATCH = 8
TRAINER = "trainer (channels_last + fused AdamW)"


@dataclass(frozen=True)
class Case:
    """An example config's model (MMPose's, as posekit reads it) and its train-step figure in BASELINES.md."""

    title: str
    model: dict[str, Any]
    codec: dict[str, Any]
    mmpose_ms: float  # 0: BASELINES.md has no figure
    batch: int = BATCH

    @property
    def input_size(self) -> tuple[int, int]:
        """``(w, h)`` of the crops (the codec's)."""
        w, h = self.codec["input_size"]
        return int(w), int(h)


def _case(title: str, name: str, mmpose_ms: float, batch: int = BATCH) -> Case:
    model = example_model(name)
    return Case(title, model, model["head"]["decoder"], mmpose_ms, batch)


CASES = {
    "resnet50": _case("SimpleBaseline ResNet-50", RESNET50, 1970.0),
    "hrnet-w32": _case("HRNet-w32", HRNET_W32, 2640.0),
    "rtmpose-m": _case("RTMPose-m (CSPNeXt-m + RTMCCHead)", RTMPOSE_M, 840.0),
    # the main job's model (scripts/main.sh) at its training batch size
    "main-job": _case("main job (synthetic_rtmpose: CSPNeXt 0.167/0.375 + RTMCCHead)", MAIN_JOB, 0.0, 32),
}


# ---- the OpenMP thread-placement fault ----

RESTARTS = "POSEKIT_TRAIN_STEP_RESTARTS"


def check_thread_placement(max_restarts: int = 3) -> None:
    """Restart in a fresh process, threads pinned to cores, while a tiny parallel op costs milliseconds."""
    ms = tiny_parallel_op_ms()
    if ms < 2.0 or torch.get_num_threads() < 2:
        return
    restarts = int(os.environ.get(RESTARTS, "0"))
    if restarts >= max_restarts:
        print(f"WARNING: a tiny parallel op still takes {ms:.1f} ms after {restarts} restarts: figures are unreliable")
        return
    print(f"a tiny parallel op takes {ms:.1f} ms: OpenMP threads share a vCPU; restarting with threads pinned")
    sys.stdout.flush()
    env = {**os.environ, RESTARTS: str(restarts + 1)}
    env.setdefault("OMP_PROC_BIND", "close")
    env.setdefault("OMP_PLACES", "cores")
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


# ---- one training step ----


def make_batch(codec_cfg: dict[str, Any], size: int = BATCH, seed: int = 0) -> PoseBatch:
    """``size`` random uint8 crops ``(B, 3, H, W)`` with the codec's targets of random keypoints inside them."""
    rng = np.random.default_rng(seed)
    codec = build("codec", codec_cfg)
    w, h = codec_cfg["input_size"]
    encoded = []
    for _ in range(size):
        keypoints = (rng.uniform(0.1, 0.9, (1, 17, 2)) * (w, h)).astype(np.float32)
        encoded.append(codec.encode(keypoints, np.ones((1, 17), np.float32)))
    targets = {key: torch.from_numpy(np.stack([e[key] for e in encoded])) for key in encoded[0]}
    inputs = torch.from_numpy(rng.integers(0, 256, (size, 3, h, w), dtype=np.uint8))
    return PoseBatch(inputs=inputs, targets=targets, samples=[PoseSample() for _ in range(size)])


@dataclass
class Trainee:
    """One variant: its model, optimizer, memory format and switches."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    memory_format: torch.memory_format
    dtype: torch.dtype = torch.float32
    flush_denormal: bool = False
    mkldnn: bool = True

    def loss(self, batch: PoseBatch) -> Tensor:
        """Preprocess, forward in ``mode="loss"``; the sum of the ``loss*`` outputs."""
        prepared = self.model.data_preprocessor(batch, training=True)
        if self.dtype != torch.float32:
            targets = {k: v.to(self.dtype) if v.is_floating_point() else v for k, v in prepared.targets.items()}
            prepared = PoseBatch(prepared.inputs.to(self.dtype), targets, prepared.samples)
        inputs = prepared.inputs.contiguous(memory_format=self.memory_format)
        losses = self.model(inputs, prepared, mode="loss")
        return sum(value for key, value in losses.items() if key.startswith("loss"))

    def backward(self, batch: PoseBatch) -> float:
        """Fresh gradients of the loss on ``batch``; returns the loss."""
        self.optimizer.zero_grad()
        with torch.backends.mkldnn.flags(enabled=self.mkldnn):
            torch.set_flush_denormal(self.flush_denormal)
            try:
                loss = self.loss(batch)
                loss.backward()
            finally:
                torch.set_flush_denormal(False)
        return loss.item()

    def step(self, batch: PoseBatch) -> None:
        """One training step: forward, loss, backward, AdamW."""
        self.backward(batch)
        self.optimizer.step()


def variants(model: nn.Module, extra: bool, dtype: torch.dtype = torch.float32) -> dict[str, Callable[[], Trainee]]:
    """Name -> builder of a trainee (each from a fresh copy of ``model``'s weights)."""

    def trainee(
        memory_format: torch.memory_format, fused: bool, mkldnn: bool = True, flush_denormal: bool = False
    ) -> Trainee:
        m = copy.deepcopy(model).to(dtype=dtype).to(memory_format=memory_format).train()
        optimizer = torch.optim.AdamW(m.parameters(), lr=5e-4, weight_decay=0.01, fused=fused or None)
        return Trainee(m, optimizer, memory_format, dtype, flush_denormal=flush_denormal, mkldnn=mkldnn)

    def trainer_default() -> Trainee:
        """What ``posekit train`` builds with its defaults (``train.channels_last``, ``optim.optimizer.fused``)."""
        m = use_channels_last(copy.deepcopy(model).to(dtype=dtype).train())
        optimizer = build_optimizer(m, OptimizerCfg(type="AdamW", lr=5e-4, weight_decay=0.01))
        return Trainee(m, optimizer, torch.channels_last, dtype)

    table = {
        "eager": lambda: trainee(torch.contiguous_format, False),
        "channels_last": lambda: trainee(torch.channels_last, False),
        TRAINER: trainer_default,
    }
    if extra:
        table["no oneDNN (eager)"] = lambda: trainee(torch.contiguous_format, False, mkldnn=False)
        table["channels_last + fused + flush denormals"] = lambda: trainee(
            torch.channels_last, True, flush_denormal=True
        )
    return table


# ---- same maths: each variant against eager ----


@dataclass(frozen=True)
class Agreement:
    """How far a variant's first step is from eager's, each relative to eager's scale."""

    loss: float  # |loss - loss_eager| / |loss_eager|
    grad_l2: float  # ||g - g_eager|| / ||g_eager|| over all parameters
    grad_max: float  # max over parameters of max|g - g_eager| / max|g_eager|
    step: float  # max over parameters of max|p - p_eager| / max|p_eager| after one AdamW step on eager's gradients

    def ok(self, tol: Agreement) -> bool:
        return all(getattr(self, f) <= getattr(tol, f) for f in ("loss", "grad_l2", "grad_max", "step"))


#: float32 bounds the loss and the optimizer step only (its gradients at random init are ill-conditioned, see
#: the module docstring); float64 must agree everywhere
TOL_FLOAT32 = Agreement(loss=1e-5, grad_l2=float("inf"), grad_max=float("inf"), step=1e-6)
TOL_FLOAT64 = Agreement(loss=1e-12, grad_l2=1e-9, grad_max=1e-9, step=1e-12)


def agreement(trainees: dict[str, Trainee], batch: PoseBatch) -> dict[str, Agreement]:
    """Compare each trainee's first loss, gradients and one AdamW step (from eager's gradients) with eager's.

    Every trainee takes that one step, so all start the timing from the same weights (up to rounding).
    """
    ref = trainees["eager"]
    ref_loss = ref.backward(batch)
    ref_grads = [p.grad.detach().double() if p.grad is not None else None for p in ref.model.parameters()]
    found = {}
    for name, t in trainees.items():
        loss = ref_loss if t is ref else t.backward(batch)
        sq_diff = sq_ref = 0.0
        grad_max = 0.0
        for p, r in zip(t.model.parameters(), ref_grads, strict=True):
            if r is None:
                continue
            diff = p.grad.detach().double() - r
            sq_diff += float((diff**2).sum())
            sq_ref += float((r**2).sum())
            if float(r.abs().max()) > 0:
                grad_max = max(grad_max, float(diff.abs().max() / r.abs().max()))
            p.grad.copy_(r)  # the step is compared on identical gradients
        found[name] = (loss, (sq_diff / sq_ref) ** 0.5 if sq_ref else 0.0, grad_max)
    for t in trainees.values():
        t.optimizer.step()
        t.optimizer.zero_grad()
    ref_params = [p.detach().double() for p in ref.model.parameters()]
    out = {}
    for name, t in trainees.items():
        step = max(
            float((p.detach().double() - r).abs().max() / r.abs().max())
            for p, r in zip(t.model.parameters(), ref_params, strict=True)
            if float(r.abs().max()) > 0
        )
        loss, grad_l2, grad_max = found[name]
        out[name] = Agreement(abs(loss - ref_loss) / abs(ref_loss), grad_l2, grad_max, step)
    return out


# ---- timing ----


#: a step that times itself (in another process) returns its (ms, minor page faults)
SelfTimed = tuple[float, float]
Step = Callable[[], SelfTimed | None]


def interleaved_medians(steps: dict[str, Step], warmup: int, reps: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median ms of each step, timed in rounds (A B C A B C ...), and its mean minor page faults per call."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in steps}
    faults = dict.fromkeys(steps, 0.0)
    for _ in range(reps):
        for name, fn in steps.items():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            own = fn()
            ms, n = (time.perf_counter() - start) * 1e3, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
            if own is not None:
                ms, n = own
            times[name].append(ms)
            faults[name] += n / reps
    return {name: statistics.median(t) for name, t in times.items()}, faults


class TrainWorker(MMPoseWorker):
    """MMPose's own training step in a child process (``mmpose_worker.py`` under MMPose's Python)."""

    def build(self, case: Case) -> int:
        """Build ``case``'s model in MMPose; its parameter count."""
        reply = self.ask(model=case.model, batch=case.batch, input_size=list(case.input_size), seed=0)
        return int(reply["params"])

    def step(self) -> SelfTimed:
        reply = self.ask(steps=1)
        return reply["ms"][0], reply["faults"][0]


def _estimator(case: Case) -> nn.Module:
    torch.manual_seed(0)
    return build("estimator", case.model)


def float64_agreement(case: Case, extra: bool) -> dict[str, Agreement]:
    """Every variant's first step against eager's in float64 (batch 2), where the tricks must change nothing."""
    trainees = {name: make() for name, make in variants(_estimator(case), extra, torch.float64).items()}
    return agreement(trainees, make_batch(case.codec, size=2))


MMPOSE_ROW = "MMPose 1.3.2 (this run, its own process)"


def bench(case: Case, args: argparse.Namespace) -> None:
    model = _estimator(case)
    batch = make_batch(case.codec, size=case.batch)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    w, h = case.input_size
    print(f"\n{case.title}: {params:.1f} M params, batch {case.batch}, {h}x{w}")
    exact = float64_agreement(case, args.extra)
    trainees = {name: make() for name, make in variants(model, args.extra).items()}
    found = agreement(trainees, batch)
    ok = {name: found[name].ok(TOL_FLOAT32) and exact[name].ok(TOL_FLOAT64) for name in trainees}
    steps: dict[str, Step] = {name: (lambda t=t: t.step(batch)) for name, t in trainees.items()}
    worker = None
    if args.mmpose:
        worker = TrainWorker(args.mmpose)
        mm_params = worker.build(case)
        if mm_params != sum(p.numel() for p in model.parameters()):
            raise RuntimeError(f"MMPose's {case.title} has {mm_params} parameters, posekit's a different number")
        steps[MMPOSE_ROW] = worker.step
    try:
        ms, faults = interleaved_medians(steps, args.warmup, args.reps)
    finally:
        if worker is not None:
            worker.close()
    mmpose_ms = ms.get(MMPOSE_ROW, case.mmpose_ms) or float("nan")
    print(
        f"  {'variant':<42}{'step ms':>9}{'img/s':>7}{'vs eager':>10}{'vs MMPose':>11}"
        f"{'faults':>9}{'f32 loss':>10}{'f32 grad L2':>12}{'f32 step':>10}{'f64 worst':>11}"
    )
    for name, value in ms.items():
        row = (
            f"  {name:<42}{value:9.0f}{1e3 * case.batch / value:7.1f}{ms['eager'] / value:9.2f}x"
            f"{mmpose_ms / value:10.2f}x{faults[name]:9.0f}"
        )
        if name in trainees:
            a, e = found[name], exact[name]
            worst = max(e.loss, e.grad_l2, e.grad_max, e.step)
            row += f"{a.loss:10.0e}{a.grad_l2:12.0e}{a.step:10.0e}{worst:11.0e} {'ok' if ok[name] else 'FAIL'}"
        print(row)
    verdict = "" if ok[TRAINER] else " (FAILED the agreement checks)"
    rate = 1e3 * case.batch / ms[TRAINER]
    in_run = ""
    if worker:
        mm_rate = 1e3 * case.batch / ms[MMPOSE_ROW]
        speedup = ms[MMPOSE_ROW] / ms[TRAINER]
        in_run = f"MMPose in this run {ms[MMPOSE_ROW]:.0f} ms ({mm_rate:.1f} img/s) = {speedup:.2f}x; "
    fixed = f"MMPose 1.3.2 in BASELINES.md {case.mmpose_ms:.0f} ms = {case.mmpose_ms / ms[TRAINER]:.2f}x; "
    print(
        f"  posekit's trainer {ms[TRAINER]:.0f} ms ({rate:.1f} img/s){verdict}: {in_run}"
        f"{fixed if case.mmpose_ms else ''}target >= 1.2x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="timed steps per variant (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first")
    parser.add_argument("--models", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--extra", action="store_true", help="also time without oneDNN and with flushed denormals")
    parser.add_argument(
        "--glibc-defaults",
        action="store_true",
        help="leave glibc's malloc as it is (posekit train retains freed host memory: train.retain_host_memory)",
    )
    parser.add_argument(
        "--mmpose",
        metavar="PYTHON",
        help="also time MMPose's own training step, interleaved, with this Python (benchmarks/mmpose_env.sh makes one)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    check_thread_placement()
    retained = not args.glibc_defaults and retain_freed_memory()
    deterministic = TrainSection().deterministic
    seed_everything(0, deterministic)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN {torch.backends.mkldnn.is_available()}, "
        f"OMP_PROC_BIND={os.environ.get('OMP_PROC_BIND', 'unset')}; tiny parallel op {tiny_parallel_op_ms():.2f} ms; "
        f"freed host memory {'retained, as posekit train does' if retained else 'returned to the OS (glibc defaults)'}"
        f"; deterministic algorithms {'on' if deterministic else 'off'}, as posekit train's default"
    )
    for key in args.models:
        bench(CASES[key], args)


if __name__ == "__main__":
    main()
