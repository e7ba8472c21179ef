"""Freed host memory is kept for reuse (train.retain_host_memory): the next step's activations fault in no pages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# In a child process: mallopt is process-wide and permanent, and the test must see glibc's defaults first.
CHILD = """
import json, resource, torch
from posekit.engine.host_memory import retain_freed_memory

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        x = torch.ones(16 << 20)  # 64 MiB: above glibc's largest mmap threshold, so mmapped afresh by default
        del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults()
default = faults()
applied = retain_freed_memory()
faults()  # the heap grows once
# the fewest of a few rounds: a round may still extend the heap (brk can fall back to a fresh mapping)
retained = min(faults() for _ in range(5))
print(json.dumps({"applied": applied, "default": default, "retained": retained}))
"""


def test_retained_memory_is_reused_without_page_faults() -> None:
    pytest.importorskip("resource")
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.splitlines()[-1])
    if not found["applied"]:
        pytest.skip("not glibc: retain_freed_memory is a no-op here")
    # 4 x 64 MiB in 4 KiB pages is 65,536 faults with glibc's defaults
    assert found["default"] > 30_000, found
    assert found["retained"] < 1_000, found
