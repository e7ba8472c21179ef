"""Checkpoint files of a training run: atomic writes, RNG states, finding the latest, pruning.

A checkpoint is a plain dict that ``torch.load(weights_only=True)`` can read (tensors,
numbers, strings, lists, dicts; read back by :func:`posekit.nn.checkpoint.read_checkpoint`):
MMPose's ``{"state_dict", "meta"}`` plus the optimizer,
scheduler, scaler, EMA, loop position and RNG states of a training run. Writes go to a
temporary file in the same folder, are fsynced, then renamed over the target, so a crash
during a save never leaves a truncated checkpoint; the ``last_checkpoint`` file (MMEngine's
name) that points at the newest one is replaced the same way.
"""

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
    """Write ``path`` through ``writer(file)`` into a temporary sibling, fsync, then rename.

    Args:
        path: the final file.
        writer: a callable receiving the open binary file.
    """
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
    """``torch.save`` ``checkpoint`` to ``path`` atomically.

    Args:
        checkpoint: the dict to save (weights_only-loadable contents).
        path: the final file.
    """
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
    """Restore the generators saved by :func:`rng_state`.

    Args:
        state: the ``rng`` entry of a checkpoint.
    """
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
    """Atomically point ``work_dir/last_checkpoint`` at ``ckpt`` (a file in ``work_dir``).

    Args:
        work_dir: the run's folder.
        ckpt: the checkpoint just written.
    """
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
    """The checkpoint a bare ``--resume`` continues from: ``last_checkpoint``'s target, else the newest file.

    Args:
        work_dir: the run's folder.
    """
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
        work_dir: the run's folder.
        keep_last: how many ``epoch_N``/``iter_N`` files to keep.
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
