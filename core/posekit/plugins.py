"""The pluggy manager of the ``posekit.hooks`` entry points, each loaded in its own guard and validated
as pytest does (misspelt hook names and unmarked hook-like functions are errors; a name two distributions
register is an error; a module that fails to import is reported and left out). ``hooks.<name>`` is
validated against the module's ``config_model``; ``POSEKIT_TRACE_HOOKS=1`` prints every hook call."""

from __future__ import annotations

import difflib
import inspect
import os
import sys
import warnings
from collections.abc import Iterable
from typing import Any

import pluggy
from pydantic import BaseModel, ConfigDict

from posekit import hookspecs
from posekit.errors import DuplicateComponentError, PluginLoadError
from posekit.registry import CORE_DIST, Entry, entries, load_entry, record_failure, strict

PROJECT = "posekit"
#: ``hooks.<key>`` keys that are switches, not hook sections
RESERVED = frozenset({"enable", "disable"})


class HookLoadWarning(UserWarning):
    """A hook plugin was skipped because it failed to load."""


class NoHookConfig(BaseModel):
    """The section of a hook that declares no ``config_model``: it takes no keys."""

    model_config = ConfigDict(extra="forbid")


def hook_entry(name: str) -> Entry:
    """The single ``posekit.hooks`` entry named ``name``; two distributions is an error naming both."""
    found = [e for e in entries("hook") if e.name == name]
    if not found:
        known = ", ".join(hook_names()) or "(none)"
        raise PluginLoadError(f"no hook named {name!r} is installed; installed hooks: {known}")
    if len(found) > 1:
        found.sort(key=lambda e: (e.dist != CORE_DIST, e.dist))
        who = " and ".join(f"{e.dist} {e.version} ({e.value})" for e in found)
        raise DuplicateComponentError(
            f"hook {name!r} is registered by {who}: a hook name belongs to one distribution and is never "
            f'displaced. Rename the plugin\'s entry point in [project.entry-points."posekit.hooks"] '
            f"(or uninstall one), then re-install it."
        )
    if name in RESERVED:
        raise PluginLoadError(
            f"hook entry point {name!r} from {found[0].dist} uses a reserved name (a config's "
            f"hooks.{name} switch); rename it"
        )
    return found[0]


def hook_names() -> list[str]:
    """Installed hook names (entry-point names of ``posekit.hooks``)."""
    return sorted({e.name for e in entries("hook")})


def config_model(name: str) -> Any:
    """The pydantic model of ``hooks.<name>``: the module's ``config_model``, or one taking no keys."""
    plugin = load_entry(hook_entry(name))
    model = getattr(plugin, "config_model", None)
    if model is None:
        return NoHookConfig
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        raise PluginLoadError(f"hook {name}: config_model must be a pydantic BaseModel class, got {model!r}")
    return model


def validate_hook(pm: pluggy.PluginManager, plugin: Any, entry: Entry) -> None:
    """Refuse misspelt hook names and hook-like functions without ``@hookimpl`` in ``plugin``."""
    specs = sorted(n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), f"{PROJECT}_spec"))
    where = f"{entry.name} = {entry.value} from {entry.dist} {entry.version}"
    for attr in dir(plugin):
        if attr.startswith("_"):
            continue
        obj = getattr(plugin, attr, None)
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is not None:
            target = opts.get("specname") or attr
            if target not in specs:
                close = difflib.get_close_matches(target, specs, n=1, cutoff=0.6)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise PluginLoadError(
                    f"hook plugin {where}: {attr} implements unknown hook {target!r}.{hint} "
                    f"posekit's hooks (posekit/hookspecs.py): {', '.join(specs)}"
                )
        elif inspect.isfunction(obj) and getattr(obj, "__module__", None) == getattr(plugin, "__name__", None):
            close = difflib.get_close_matches(attr, specs, n=1, cutoff=0.8)
            if close:
                named = "is named like" if close[0] == attr else f"looks like hook {close[0]!r}"
                raise PluginLoadError(
                    f"hook plugin {where}: function {attr} {named} but lacks @hookimpl, so pluggy would "
                    f"ignore it. Decorate it with @posekit.hookimpl (and name it {close[0]!r}), or rename it "
                    f"with a leading underscore."
                )


def _trace(pm: pluggy.PluginManager) -> None:
    def before(hook_name: str, hook_impls: list[Any], kwargs: dict[str, Any]) -> None:
        names = ", ".join(i.plugin_name for i in hook_impls)
        args = ", ".join(
            f"{k}={type(v).__name__}" if k in ("trainer", "batch") else f"{k}={v!r}"[:80] for k, v in kwargs.items()
        )
        print(f"[posekit hook] {hook_name}({args}) -> [{names}]", file=sys.stderr)

    def after(outcome: Any, hook_name: str, hook_impls: list[Any], kwargs: dict[str, Any]) -> None:
        result = outcome.get_result() if outcome.exception is None else outcome.exception
        print(f"[posekit hook] {hook_name} returned {result!r}"[:200], file=sys.stderr)

    pm.add_hookcall_monitoring(before, after)


def make_plugin_manager(
    enabled: Iterable[str] | None = None,
    disabled: Iterable[str] = (),
    extra: Iterable[Any] = (),
) -> pluggy.PluginManager:
    """A plugin manager with every ``posekit.hooks`` entry point registered under its name.

    Args:
        enabled: only these hook names; None means all.
        disabled: hook names to leave out (a config's ``hooks.disable``).
        extra: further plugin objects (modules or instances) to register.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    wanted = set(enabled) if enabled is not None else None
    skip = set(disabled)
    for name in hook_names():
        if name in skip or (wanted is not None and name not in wanted):
            continue
        _register(pm, hook_entry(name))
    for obj in extra:
        pm.register(obj)
    if os.environ.get("POSEKIT_TRACE_HOOKS", "") not in ("", "0"):
        _trace(pm)
    return pm


def _register(pm: pluggy.PluginManager, entry: Entry) -> None:
    try:
        plugin = load_entry(entry)
    except PluginLoadError as e:
        record_failure(entry, str(e))
        if strict():
            raise
        warnings.warn(str(e), HookLoadWarning, stacklevel=3)
        return
    try:
        validate_hook(pm, plugin, entry)
        pm.register(plugin, name=entry.name)
    except pluggy.PluginValidationError as e:  # an argument the hookspec does not offer, ...
        record_failure(entry, str(e))
        raise PluginLoadError(f"hook plugin {entry.name} = {entry.value} from {entry.dist} {entry.version}: {e}") from e
    except PluginLoadError as e:
        record_failure(entry, str(e))
        raise
