"""Every registry error says what and where. One case per row, the expected text beside it."""

from __future__ import annotations

import warnings

import pytest

import posekit
from posekit.errors import ConfigError, DuplicateComponentError, PluginLoadError, PosekitError, UnknownComponentError
from posekit.registry import problems, resolve

TOY = """
from typing import Literal

class Toy:
    def __init__(self, depth: int, mode: Literal["a", "b"] = "a", sizes: tuple[int, int] = (1, 2)):
        self.depth, self.mode, self.sizes = depth, mode, sizes
"""


@pytest.fixture
def toy(throwaway):
    throwaway("posekit-toy", {"posekit.necks": {"Toy": "posekit_toy_mod:Toy"}}, modules={"posekit_toy_mod": TOY})


@pytest.mark.parametrize(
    ("cfg", "error", "expected"),
    [
        (
            {"type": "Toi", "depth": 1},
            UnknownComponentError,
            ["unknown neck 'Toi'", "Did you mean: Toy", "FeatureMapProcessor"],
        ),
        ({"type": "posekit_toy_mod.Toy", "depth": 1}, UnknownComponentError, ["registered name only"]),
        (
            {"type": "Toy", "depht": 1},
            ConfigError,
            ["neck Toy", "depht: unexpected argument", "accepts: depth, mode, sizes"],
        ),
        ({"type": "Toy"}, ConfigError, ["depth: required argument of neck Toy is missing"]),
        ({"type": "Toy", "depth": "deep"}, ConfigError, ["depth:", "valid integer", "'deep'"]),
        ({"type": "Toy", "depth": 1, "mode": "c"}, ConfigError, ["mode:", "'a' or 'b'"]),
        ({"type": "Toy", "depth": 1, "sizes": [1, 2, 3]}, ConfigError, ["sizes:"]),
        ({"depth": 1}, ConfigError, ["needs a 'type' key"]),
    ],
)
def test_build_errors(toy, cfg, error, expected) -> None:
    with pytest.raises(error) as info:
        posekit.build("neck", cfg)
    for text in expected:
        assert text in str(info.value), f"{text!r} not in:\n{info.value}"


def test_build_toy_coerces_lists(toy) -> None:
    obj = posekit.build("neck", {"type": "Toy", "depth": 2, "sizes": [3, 4], "_scope_": "mmpose"})
    assert (obj.depth, obj.sizes) == (2, (3, 4))


def test_unknown_kind() -> None:
    with pytest.raises(UnknownComponentError, match="unknown component kind 'bakcbone'"):
        posekit.list_components("bakcbone")


def test_duplicate_name_names_both_distributions(throwaway) -> None:
    throwaway(
        "posekit-dup",
        {"posekit.backbones": {"ResNet": "posekit_dup_mod:ResNet"}},
        modules={"posekit_dup_mod": "ResNet = object\n"},
    )
    with pytest.raises(DuplicateComponentError) as info:
        resolve("backbone", "ResNet")
    msg = str(info.value)
    assert "posekit-dup" in msg and "posekit-resnet" in msg and "'posekit-resnet:ResNet'" in msg
    assert resolve("backbone", "posekit-resnet:ResNet").dist == "posekit-resnet"
    assert resolve("backbone", "posekit-dup:ResNet").dist == "posekit-dup"


def test_broken_plugin_is_reported_and_others_work(throwaway) -> None:
    throwaway(
        "posekit-broken",
        {"posekit.necks": {"Broken": "posekit_broken_mod:Broken"}},
        modules={"posekit_broken_mod": "import no_such_module_xyz\n"},
    )
    with pytest.raises(PluginLoadError) as info:
        posekit.build("neck", {"type": "Broken"})
    msg = str(info.value)
    assert "posekit-broken" in msg and "Broken = posekit_broken_mod:Broken" in msg
    assert "ModuleNotFoundError" in msg and "no_such_module_xyz" in msg
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert any(p.dist == "posekit-broken" for p in problems())
    neck = posekit.build("neck", {"type": "GlobalAveragePooling"})  # everything else still works
    assert type(neck).__name__ == "GlobalAveragePooling"


def test_incompatible_core_requirement_is_skipped(throwaway) -> None:
    throwaway(
        "posekit-future",
        {"posekit.necks": {"Future": "posekit_future_mod:Future"}},
        modules={"posekit_future_mod": "raise RuntimeError('must not be imported')\n"},
        requires=("posekit>=9",),
    )
    assert "Future" not in posekit.list_components("neck")["neck"]
    (p,) = [p for p in problems() if p.dist == "posekit-future"]
    assert "requires posekit>=9" in p.error and "0.1.0" in p.error


def test_load_and_disable_switches(throwaway, monkeypatch) -> None:
    throwaway(
        "posekit-extra",
        {"posekit.necks": {"Extra": "posekit_extra_mod:Extra"}},
        modules={"posekit_extra_mod": "Extra = 1\n"},
    )
    from posekit.registry import refresh

    assert "Extra" in posekit.list_components("neck")["neck"]
    monkeypatch.setenv("POSEKIT_DISABLE_PLUGINS", "posekit-extra")
    refresh()
    assert "Extra" not in posekit.list_components("neck")["neck"]
    monkeypatch.delenv("POSEKIT_DISABLE_PLUGINS")
    monkeypatch.setenv("POSEKIT_LOAD_PLUGINS", "posekit-extra")
    refresh()
    names = posekit.list_components()
    assert names["neck"] == ["Extra", "FeatureMapProcessor", "GlobalAveragePooling"]  # the core always loads
    assert names["backbone"] == []
    monkeypatch.delenv("POSEKIT_LOAD_PLUGINS")
    refresh()


HOOKS_OK = """
from posekit import hookimpl
calls = []

@hookimpl
def before_run(trainer):
    calls.append(("before_run", trainer))
"""


def test_hook_plugins_load_one_by_one(throwaway) -> None:
    from posekit.plugins import HookLoadWarning, make_plugin_manager

    throwaway(
        "posekit-hooks-ok", {"posekit.hooks": {"okhook": "posekit_hooks_ok"}}, modules={"posekit_hooks_ok": HOOKS_OK}
    )
    throwaway(
        "posekit-hooks-bad", {"posekit.hooks": {"badhook": "posekit_hooks_bad"}}, modules={"posekit_hooks_bad": "1/0\n"}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = make_plugin_manager(enabled=["okhook", "badhook"])  # not the core's own hooks
    msgs = [str(w.message) for w in caught if issubclass(w.category, HookLoadWarning)]
    assert any("posekit-hooks-bad" in m and "badhook" in m and "ZeroDivisionError" in m for m in msgs), msgs
    assert pm.has_plugin("okhook") and not pm.has_plugin("badhook")
    pm.hook.before_run(trainer="T")
    import posekit_hooks_ok

    assert posekit_hooks_ok.calls == [("before_run", "T")]


def test_strict_mode_raises_on_broken_hook(throwaway, monkeypatch) -> None:
    from posekit.plugins import make_plugin_manager

    throwaway(
        "posekit-hooks-bad",
        {"posekit.hooks": {"badhook": "posekit_hooks_bad2"}},
        modules={"posekit_hooks_bad2": "1/0\n"},
    )
    monkeypatch.setenv("POSEKIT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="posekit-hooks-bad"):
        make_plugin_manager(enabled=["badhook"])


def test_trace_hooks_prints_calls(throwaway, monkeypatch, capsys) -> None:
    from posekit.plugins import make_plugin_manager

    throwaway(
        "posekit-hooks-ok", {"posekit.hooks": {"okhook": "posekit_hooks_ok3"}}, modules={"posekit_hooks_ok3": HOOKS_OK}
    )
    monkeypatch.setenv("POSEKIT_TRACE_HOOKS", "1")
    pm = make_plugin_manager(enabled=["okhook"])
    pm.hook.before_run(trainer="T")
    err = capsys.readouterr().err
    assert "[posekit hook] before_run(trainer=str) -> [okhook]" in err


def test_a_shipped_name_without_its_distribution_says_what_to_install(monkeypatch) -> None:
    """A `.onnx` checkpoint, `posekit export`, `posekit new-plugin` and `posekit plugins --check` name the
    distribution that provides them."""
    from posekit.cli import _missing_command, load_command
    from posekit.inference import Inferencer
    from posekit.registry import refresh

    monkeypatch.setenv("POSEKIT_DISABLE_PLUGINS", "posekit-onnx")
    refresh()
    try:
        with pytest.raises(UnknownComponentError, match=r"unknown backend 'onnx'.*It ships with posekit-onnx"):
            Inferencer(None, "model.onnx")
    finally:
        monkeypatch.delenv("POSEKIT_DISABLE_PLUGINS")
        refresh()
    assert _missing_command(["export", "cfg.yaml"]) is None  # installed: argparse takes it
    monkeypatch.setattr("posekit.cli.entry_points", lambda group: [])  # as if no plugin command were installed
    assert "pip install posekit-onnx" in (_missing_command(["export", "cfg.yaml"]) or "")
    assert "pip install posekit-scaffold" in (_missing_command(["new-plugin", "x"]) or "")
    with pytest.raises(PosekitError, match=r"'check'.*It ships with posekit-testing: pip install posekit-testing"):
        load_command("check")
    assert _missing_command(["train", "cfg.yaml"]) is None and _missing_command(["nonsense"]) is None
