"""A child process running ``mmpose_worker.py`` under MMPose's own Python: MMPose timed in the benchmark's run."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

#: the environment ``benchmarks/mmpose_env.sh`` makes
DEFAULT_MMPOSE = os.path.expanduser("~/.cache/posekit/mmpose-env/bin/python")


class MMPoseWorker:
    """``script`` (``mmpose_worker.py``, or ``posekit_worker.py`` that speaks its top-down commands) under
    ``python``; :meth:`ask` sends one JSON command and returns its JSON reply."""

    def __init__(self, python: str, script: str = "mmpose_worker.py") -> None:
        worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
        self.proc = subprocess.Popen([python, worker], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the MMPose worker exited (code {self.proc.wait()}); its stderr is above")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()
