"""Hook plugins are validated as pytest validates its plugins, never displace the core's hooks,
and get a validated ``hooks.<name>`` config section exactly as the core's hooks do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from posekit.config import load_config
from posekit.errors import ConfigError, DuplicateComponentError, PluginLoadError
from posekit.plugins import make_plugin_manager

MODEL = {
    "type": "TopdownPoseEstimator",
    "backbone": {"type": "ResNet", "depth": 18},
    "head": {"type": "HeatmapHead", "in_channels": 512, "out_channels": 17},
}

TYPO = """
from posekit import hookimpl

@hookimpl
def before_run(trainer):
    pass

@hookimpl
def after_train_iteration(trainer):
    pass
"""

NO_MARKER = """
from posekit import hookimpl

@hookimpl
def before_run(trainer):
    pass

def after_val(trainer, metrics):
    print(metrics)
"""

WITH_CONFIG = """
from pydantic import BaseModel, ConfigDict, Field
from posekit import hookimpl

class PrinterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every: int = Field(100, ge=1)
    prefix: str = ">>"

config_model = PrinterConfig

@hookimpl
def after_train_iter(trainer, outputs):
    cfg = trainer.cfg.hooks.section("printer")
    if trainer.iteration % cfg.every == 0:
        print(cfg.prefix, trainer.iteration)
"""


def _hook(throwaway, dist: str, name: str, source: str) -> Path:
    module = dist.replace("-", "_") + "_mod"
    return throwaway(dist, {"posekit.hooks": {name: module}}, modules={module: source})


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            TYPO,
            [
                "typohook = posekit_hooks_typo_mod from posekit-hooks-typo 0.1.0",
                "unknown hook 'after_train_iteration'",
                "Did you mean 'after_train_iter'?",
            ],
        ),
        (
            NO_MARKER,
            [
                "typohook = posekit_hooks_typo_mod from posekit-hooks-typo 0.1.0",
                "function after_val is named like",
                "lacks @hookimpl",
            ],
        ),
    ],
)
def test_invalid_hook_module_is_an_error_naming_it(throwaway, source: str, expected: list[str]) -> None:
    _hook(throwaway, "posekit-hooks-typo", "typohook", source)
    with pytest.raises(PluginLoadError) as info:
        make_plugin_manager(enabled=["typohook"])
    for text in expected:
        assert text in str(info.value), f"{text!r} not in:\n{info.value}"


def test_plugin_cannot_displace_a_core_hook(throwaway, tmp_path: Path) -> None:
    root = _hook(throwaway, "posekit-evil", "checkpoint", "")
    with pytest.raises(DuplicateComponentError) as info:
        make_plugin_manager()
    msg = str(info.value)
    assert "hook 'checkpoint'" in msg and "posekit 0.1.0" in msg and "posekit-evil 0.1.0" in msg
    with pytest.raises(ConfigError, match=r"hook 'checkpoint' is registered by posekit .* and posekit-evil"):
        load_config({"model": MODEL})
    env = {"PYTHONPATH": str(root), "PATH": ""}
    for args in (["plugins", "--check"], ["plugins"]):
        proc = subprocess.run(
            [sys.executable, "-m", "posekit", *args],
            capture_output=True,
            text=True,
            env={**env, "POSEKIT_STRICT_PLUGINS": "1"},
        )
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "checkpoint" in proc.stdout and "posekit-evil" in proc.stdout, proc.stdout


def test_third_party_hook_gets_a_validated_section(throwaway) -> None:
    _hook(throwaway, "posekit-printer", "printer", WITH_CONFIG)
    cfg = load_config({"model": MODEL, "hooks": {"printer": {"every": 5}}})
    assert (cfg.hooks.section("printer").every, cfg.hooks.section("printer").prefix) == (5, ">>")
    assert load_config({"model": MODEL}).hooks.section("printer").every == 100  # defaults when absent
    with pytest.raises(ConfigError) as info:
        load_config({"model": MODEL, "hooks": {"printer": {"evry": 5}}})
    msg = str(info.value)
    assert "hooks.printer.evry: unknown field" in msg and "posekit-printer 0.1.0 accepts: every, prefix" in msg
    with pytest.raises(ConfigError, match=r"hooks.printer.every: Input should be greater than or equal to 1"):
        load_config({"model": MODEL, "hooks": {"printer": {"every": 0}}})
    pm = make_plugin_manager(enabled=["printer"])
    assert pm.has_plugin("printer")
