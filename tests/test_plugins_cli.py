"""``posekit plugins`` tells the truth: broken entry points, filtered plugins, strict mode;
and a plugins folder (``--plugins-dir`` / ``POSEKIT_PLUGINS_DIR``) registers one-off research code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import posekit
from posekit.config import load_config
from posekit.errors import ConfigError, UnknownComponentError
from posekit.registry import refresh


def posekit_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "posekit", *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


@pytest.fixture
def ghost(throwaway) -> Path:
    """A distribution whose entry point names a module that is not installed."""
    return throwaway("posekit-ghost", {"posekit.necks": {"Ghost": "posekit_ghost_gone:Ghost"}})


def test_missing_module_is_shown_and_strict_mode_fails(ghost: Path) -> None:
    env = {"PYTHONPATH": str(ghost)}
    proc = posekit_cli("plugins", env=env)
    assert proc.returncode == 0
    assert "neck Ghost from posekit-ghost 0.1.0: posekit_ghost_gone:Ghost: module not found" in proc.stdout
    strict = posekit_cli("plugins", env={**env, "POSEKIT_STRICT_PLUGINS": "1"})
    assert strict.returncode == 1, strict.stdout
    data = json.loads(posekit_cli("plugins", "--json", env=env).stdout)
    assert any(p["dist"] == "posekit-ghost" and "module not found" in p["error"] for p in data["problems"])
    assert posekit_cli("plugins", env={**env, "POSEKIT_DISABLE_PLUGINS": "posekit-ghost"}).returncode == 0


def test_filtered_plugins_are_named_and_explain_unknown_names(throwaway, monkeypatch) -> None:
    root = throwaway(
        "posekit-extra",
        {"posekit.necks": {"Extra": "posekit_extra2:Extra"}, "posekit.hooks": {"printer": "posekit_extra2"}},
        modules={"posekit_extra2": "Extra = 1\n"},
    )
    monkeypatch.setenv("POSEKIT_LOAD_PLUGINS", "posekit-resnet")
    refresh()
    with pytest.raises(UnknownComponentError) as info:
        posekit.build("neck", {"type": "Extra"})
    assert "posekit-extra 0.1.0 registers it but was filtered: not listed in POSEKIT_LOAD_PLUGINS=posekit-resnet" in (
        str(info.value)
    )
    with pytest.raises(ConfigError, match=r"unknown hook 'printer'. posekit-extra 0.1.0 registers it but was filtered"):
        load_config({"model": {"type": "TopdownPoseEstimator"}, "hooks": {"printer": {}}})
    proc = posekit_cli("plugins", env={"PYTHONPATH": str(root), "POSEKIT_DISABLE_PLUGINS": "posekit-extra"})
    assert "not loaded\n  posekit-extra 0.1.0: filtered: listed in POSEKIT_DISABLE_PLUGINS=posekit-extra" in proc.stdout
    assert "Extra" not in proc.stdout.split("not loaded")[0]


def test_incompatible_plugin_explains_unknown_name(throwaway) -> None:
    throwaway(
        "posekit-future",
        {"posekit.necks": {"Future": "posekit_future2:Future"}},
        modules={"posekit_future2": "raise RuntimeError('must not be imported')\n"},
        requires=("posekit>=9",),
    )
    with pytest.raises(UnknownComponentError, match=r"posekit-future 0.1.0 registers it but was skipped: requires"):
        posekit.build("neck", {"type": "Future"})


HEAD_FILE = """
from typing import ClassVar
from torch import nn

from posekit import hookimpl
from posekit.protocols import BaseNeck

class DoubleNeck(BaseNeck):
    example_config: ClassVar[dict] = {"factor": 2.0}
    example_inputs: ClassVar[dict] = {"feat_shapes": [(4, 8, 8)]}

    def __init__(self, factor: float = 2.0) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, feats):
        return tuple(f * self.factor for f in feats)

POSEKIT_COMPONENTS = {"neck": [DoubleNeck]}
"""

HOOK_FILE = """
from posekit import hookimpl

@hookimpl
def before_run(trainer):
    print("research hook")
"""


def test_plugins_dir_registers_components_and_hooks(posekit_check: Any, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "research"
    folder.mkdir()
    (folder / "double_neck.py").write_text(HEAD_FILE)
    (folder / "myhook.py").write_text(HOOK_FILE)
    (folder / "broken.py").write_text("import no_such_research_dep\n")
    proc = posekit_cli("--plugins-dir", str(folder), "plugins", "--json")
    data = json.loads(proc.stdout)
    mine = {(c["kind"], c["name"]) for c in data["components"] if c["dist"] == "plugins-dir"}
    assert mine == {("neck", "DoubleNeck"), ("hook", "myhook")}
    assert any("broken.py" in p["error"] and "no_such_research_dep" in p["error"] for p in data["problems"])
    after = posekit_cli("plugins", "--plugins-dir", str(folder))  # after the command too, as datasette's
    assert "DoubleNeck" in after.stdout and f"plugins-dir {folder}" in after.stdout
    assert "DoubleNeck" not in posekit_cli("plugins").stdout  # only by that explicit action
    monkeypatch.setenv("POSEKIT_PLUGINS_DIR", str(folder))
    refresh()
    try:
        neck = posekit.build("neck", {"type": "DoubleNeck", "factor": 3})
        assert neck.factor == 3.0
        from posekit.plugins import make_plugin_manager

        assert posekit_check.component("neck", "DoubleNeck") == "conformance"
        assert make_plugin_manager(enabled=["myhook"]).has_plugin("myhook")
    finally:
        monkeypatch.delenv("POSEKIT_PLUGINS_DIR")
        for name in [m for m in sys.modules if m.startswith("posekit_plugins_dir_")]:
            del sys.modules[name]
        refresh()


def test_plugins_dir_must_exist() -> None:
    proc = posekit_cli("--plugins-dir", "/no/such/folder", "plugins")
    assert proc.returncode == 2 and "plugins folder /no/such/folder" in proc.stderr and "Traceback" not in proc.stderr
