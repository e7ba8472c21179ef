"""Console logging of the long-running commands (``train``, ``test``)."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO


class _StderrHandler(logging.StreamHandler):
    """Writes each record to the ``sys.stderr`` of that moment, so a redirected or captured stderr is followed."""

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it: always sys.stderr
        pass


def setup_logging() -> None:
    """Print ``posekit`` log records to stderr: INFO on rank 0, warnings only on other ranks."""
    root = logging.getLogger("posekit")
    if any(getattr(h, "_posekit_console", False) for h in root.handlers):
        return
    handler = _StderrHandler()
    rank = int(os.environ.get("RANK", "0"))
    prefix = f"[rank {rank}] " if rank else ""
    handler.setFormatter(logging.Formatter(f"{prefix}%(message)s"))
    handler._posekit_console = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO if rank == 0 else logging.WARNING)
