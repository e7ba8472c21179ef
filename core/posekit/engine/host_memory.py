"""Reuse of freed host memory across training steps (glibc's malloc tunables).

Every training step allocates and frees the same large activations (tens of MB each at batch 8).
glibc's defaults serve such blocks with fresh ``mmap`` calls and hand freed heap back to the OS,
so every step faults its activations in again, page by page: about 120,000 minor faults and 0.1-0.2 s
of a 2.2 s HRNet-w32 step on two CPU cores. With ``mmap`` and trimming switched off, freed blocks are
reused by the next step instead, as torch's CUDA caching allocator does on the GPU.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys

log = logging.getLogger("posekit.train")

# mallopt parameters, from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


@functools.cache
def retain_freed_memory() -> bool:
    """Keep freed host memory in the process for later allocations; whether it took effect.

    Process-wide and permanent: large allocations come from the heap (``M_MMAP_MAX = 0``) and the
    heap never shrinks (``M_TRIM_THRESHOLD = -1``), so the process keeps its peak resident size.
    A no-op returning False where the C library is not glibc (macOS, Windows, musl).
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None)  # the C library this process runs on
    if not hasattr(libc, "gnu_get_libc_version"):  # musl
        return False
    applied = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, -1) == 1
    if not applied:
        log.warning("glibc's mallopt refused M_MMAP_MAX/M_TRIM_THRESHOLD: freed host memory goes back to the OS")
    return applied
