"""Checkpoint files of a run: atomic writes (a crash never leaves a truncated file), RNG states, finding
the latest (MMEngine's ``last_checkpoint`` pointer), pruning. A checkpoint is a weights_only-loadable dict:
MMPose's ``{"state_dict", "meta"}`` plus the run's optimizer, scheduler, scaler, EMA, loop and RNG states."""

from __future__ import annotations

import contextlib
import os
import random
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

LAST_POINTER = "last_checkpoint"
_RUN_CKPT = re.compile(r"^(epoch|iter)_(\d+)\.pth$")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | Path, writer: Any) -> Path:
    """Write ``path`` through ``writer(binary file)`` into a temporary sibling, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def save_checkpoint(checkpoint: Mapping[str, Any], path: str | Path) -> Path:
    """``torch.save`` ``checkpoint`` to ``path`` atomically."""
    return atomic_write(path, lambda f: torch.save(dict(checkpoint), f))


# --------------------------------------------------------------------------- RNG states


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch and CUDA generator states as tensors and numbers."""
    version, words, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": version, "state": torch.tensor(words, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the generators saved by :func:`rng_state` (a checkpoint's ``rng`` entry)."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        (npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["gauss"])
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda = [s.cpu() for s in state["cuda"]]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


# --------------------------------------------------------------------------- finding checkpoints


def write_last_pointer(work_dir: str | Path, ckpt: str | Path) -> None:
    """Atomically point ``work_dir/last_checkpoint`` at ``ckpt`` (a file in ``work_dir``)."""
    name = Path(ckpt).name
    atomic_write(Path(work_dir) / LAST_POINTER, lambda f: f.write(name.encode() + b"\n"))


def run_checkpoints(work_dir: str | Path) -> list[Path]:
    """``epoch_N.pth`` and ``iter_N.pth`` files of a run, oldest first (by modification time)."""
    folder = Path(work_dir)
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if _RUN_CKPT.match(p.name)]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def find_latest(work_dir: str | Path) -> Path | None:
    """The checkpoint a bare ``--resume`` continues from: ``last_checkpoint``'s target, else the newest file."""
    folder = Path(work_dir)
    pointer = folder / LAST_POINTER
    if pointer.is_file():
        target = folder / pointer.read_text().strip()
        if target.is_file():
            return target
    files = run_checkpoints(folder)
    return files[-1] if files else None


def prune(
    work_dir: str | Path, keep_last: int, protect: tuple[Path, ...] = (), owned: set[Path] | None = None
) -> list[Path]:
    """Delete all but the ``keep_last`` newest run checkpoints; return the deleted paths.

    Args:
        protect: files never deleted (the one ``last_checkpoint`` names).
        owned: when given, only these (resolved) files are counted and deleted: the run's own.
    """
    files = [p for p in run_checkpoints(work_dir) if owned is None or p.resolve() in owned]
    keep = {p.resolve() for p in protect}
    removed = []
    for p in files[: max(len(files) - keep_last, 0)]:
        if p.resolve() in keep:
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed
