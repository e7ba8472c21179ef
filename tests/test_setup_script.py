"""``scripts/setup.sh`` works sourced (``. scripts/setup.sh``, as CONTRIBUTING says) as well as run:
sourced, a failure returns non-zero and leaves the user's shell open, its options and its folder unchanged."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SETUP = Path(__file__).resolve().parents[1] / "scripts" / "setup.sh"


def test_sourced_failure_keeps_the_shell(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SETUP, repo / "scripts" / "setup.sh")  # a checkout without .venv, with a python that fails
    script = f'cd {tmp_path}; . {repo}/scripts/setup.sh; echo "still here rc=$? opts=$- pwd=$PWD"'
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env={**os.environ, "PYTHON": "false"})
    assert "could not create" in proc.stderr and str(repo / ".venv") in proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    rc, opts, pwd = (part.split("=", 1)[1] for part in line.removeprefix("still here ").split())
    assert rc == "1" and "e" not in opts and "u" not in opts and pwd == str(tmp_path), line
    run = subprocess.run(["bash", str(repo / "scripts" / "setup.sh")], env={**os.environ, "PYTHON": "false"})
    assert run.returncode == 1
