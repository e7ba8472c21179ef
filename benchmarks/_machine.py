"""What this CPU can do, measured in the benchmark's own run: its vector ISA (as torch reports it) and fp32 peak."""

from __future__ import annotations

import time

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
