"""DataLoader workers that never outlive the process that started them.

On Linux each worker asks for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``): a
worker blocked on a full pipe would otherwise outlive a ``kill -9``-ed trainer for minutes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Make this (worker) process receive SIGKILL when its parent exits; exit now if the parent (pid ``parent``,
    the process that started the worker) is already gone: it may die before the worker gets here."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
