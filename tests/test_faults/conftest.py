"""The fault tests reuse the trainer tests' ``posekit-tiny`` kit (``tiny``) and add ``run_posekit``
(the CLI in a subprocess) and ``synthetic_root`` (a small synthetic COCO dataset, written once)."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_trainer_kit", ROOT / "tests" / "test_trainer" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_kit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _kit  # dataclasses look their module up there
_spec.loader.exec_module(_kit)
tiny = _kit.tiny  # the fixture, re-exported
TinyKit = _kit.TinyKit


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: one thread per process, no Python warnings."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **extra}


def posekit(
    *args: str, cwd: Path, timeout: float = 300, launcher: tuple[str, ...] = ("-m", "posekit")
) -> subprocess.CompletedProcess[str]:
    """``python -m posekit ARGS`` in ``cwd``."""
    return subprocess.run(
        [sys.executable, *launcher, *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``data/synthetic`` (16 train + 4 val images of 128 x 128), as the shipped config expects."""
    root = tmp_path_factory.mktemp("shipped")
    out = posekit(
        "data", "synth", "--out", "data/synthetic", "--num-train", "16", "--num-val", "4", "--size", "128x128", cwd=root
    )
    assert out.returncode == 0, out.stderr
    return root


@pytest.fixture
def run_posekit() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_posekit(*args, cwd=..., launcher=...)``: the CLI in a subprocess."""
    return posekit


@pytest.fixture(autouse=True)
def _fresh_console_logging() -> Iterator[None]:
    """Drop the console handler an in-process ``posekit train`` adds (it holds this test's captured stderr)."""
    yield
    root = logging.getLogger("posekit")
    for handler in [h for h in root.handlers if getattr(h, "_posekit_console", False)]:
        root.removeHandler(handler)
