"""What this CPU can do, measured in the benchmark's own run: its vector ISA (as torch reports it), fp32 peak and
how its threads behave; and the interleaved timing every benchmark uses."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def cpu_capability() -> str:
    """torch's view of the CPU's vector units, e.g. ``AVX2``, ``AVX512`` or ``AMX`` (``DEFAULT`` otherwise)."""
    return str(torch.backends.cpu.get_cpu_capability())


def bf16_supported() -> bool:
    """Whether oneDNN has native bfloat16 kernels here (AVX512-BF16 or AMX); elsewhere bf16 is emulated, slow."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def matmul_peak_gflops(reps: int = 10, n: int = 2048) -> float:
    """fp32 GFLOP/s of an ``n x n`` matmul, best of ``reps`` (a peak: other load only lowers it)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def machine_line(peak: float) -> str:
    """One line naming torch, its threads, the CPU capability and the measured fp32 peak."""
    return (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability {cpu_capability()}, "
        f"native bf16 {'yes' if bf16_supported() else 'no'}; fp32 matmul 2048^2 peak (this run): {peak:.0f} GFLOP/s"
    )


def tiny_parallel_op_ms(threads: int | None = None, numel: int = 1 << 20) -> float:
    """Median ms of an in-place add over ``numel`` floats on ``threads`` torch threads (unchanged when None), the
    first 5 of 30 runs untimed: a parallel region and little work, slow when the OpenMP threads share a vCPU."""
    if threads is not None:
        torch.set_num_threads(threads)
    x = torch.ones(numel)
    times = []
    for _ in range(30):
        start = time.perf_counter()
        x.add_(1.0)
        times.append(time.perf_counter() - start)
    return statistics.median(times[5:]) * 1e3


def interleaved_medians(fns: dict[str, Callable[[], Any]], runs: int, warmup: int = 2) -> dict[str, float]:
    """Median ms of each function, timed in rounds (A B C, A B C, ...) so drift on a shared machine hits all alike;
    one returning a float gives its own ms."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            own = fn()
            times[name].append(own if isinstance(own, float) else (time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}
