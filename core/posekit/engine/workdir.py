"""A run's work dir: a fresh run refuses a folder holding another run's files; a run deletes only the
checkpoints it owns (its own, and those of the run it resumes there) and a killed save's temporaries."""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path

from posekit.engine.checkpoint import run_checkpoints
from posekit.errors import ConfigError

log = logging.getLogger("posekit.train")

RUN_FILES = re.compile(r"^((epoch|iter)_\d+|best_.+)\.pth$|^(last_checkpoint|scalars\.jsonl)$")
_TEMPORARY = re.compile(r"^\.(((epoch|iter)_\d+|best_.+)\.pth|last_checkpoint)\..+\.tmp$")


def check_work_dir(work_dir: Path, resume: bool) -> None:
    """Refuse a work dir (it may not exist yet) that is not a folder, or holds another run's files unless
    ``resume`` (the run continues the run found there)."""
    if work_dir.exists() and not work_dir.is_dir():
        raise ConfigError(f"work_dir {work_dir} is a file, not a folder; pass --work-dir with a folder")
    if resume:
        return
    found = sorted(p.name for p in work_dir.iterdir() if RUN_FILES.match(p.name)) if work_dir.is_dir() else []
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise ConfigError(
            f"work_dir {work_dir} already holds another run's files ({shown}); a new run would mix its "
            "logs with them and prune its checkpoints. Continue that run with --resume, or pass another "
            "--work-dir (or remove the folder)"
        )


def adopted_checkpoints(work_dir: Path, resume_from: Path | None) -> set[Path]:
    """The checkpoints a run resuming from ``resume_from`` (None: fresh) owns: its work dir's, when it resumes
    that run."""
    if resume_from is None or resume_from.resolve().parent != work_dir.resolve():
        return set()
    return {p.resolve() for p in run_checkpoints(work_dir)}


def remove_stale_temporaries(work_dir: Path) -> list[Path]:
    """Delete the temporaries of checkpoint writes a killed run left in ``work_dir``; return them."""
    if not work_dir.is_dir():
        return []
    removed = []
    for p in work_dir.iterdir():
        if _TEMPORARY.match(p.name) and p.is_file():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted save in %s", len(removed), work_dir)
    return removed
