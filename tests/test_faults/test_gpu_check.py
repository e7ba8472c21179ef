"""Issue 17, item 12: ``benchmarks/gpu_check.sh`` on a machine without CUDA says so in one line and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine the script runs the whole check")
def test_gpu_check_says_no_cuda_in_one_line_and_exits_zero() -> None:
    out = subprocess.run(
        ["bash", str(SCRIPT)], env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stdout.strip().splitlines() == [out.stdout.strip()] and "no CUDA device" in out.stdout
