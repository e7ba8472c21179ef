"""pluggy plugin manager for behaviour (hooks), loaded from the ``posekit.hooks`` group.

Each entry point is loaded inside its own guard (pluggy's bulk
``load_setuptools_entrypoints`` stops at the first broken plugin), then
``check_pending()`` reports hook implementations whose name matches no hookspec.
``POSEKIT_TRACE_HOOKS=1`` prints every hook call with its arguments and results.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable
from typing import Any

import pluggy

from posekit import hookspecs
from posekit.errors import PluginLoadError
from posekit.registry import Entry, entries, record_failure, strict

PROJECT = "posekit"


class HookLoadWarning(UserWarning):
    """A hook plugin was skipped because it failed to load."""


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
        enabled: only these hook names (entry-point names); None means all.
        disabled: hook names to leave out (a config's ``hooks.disable``).
        extra: further plugin objects (modules or instances) to register.

    A hook plugin that fails to import, or implements a hook that does not exist, is
    reported with its distribution and entry point (a warning, or an error under
    ``POSEKIT_STRICT_PLUGINS=1``) and left out; the others keep working.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    wanted = set(enabled) if enabled is not None else None
    skip = set(disabled)
    for entry in entries("hook"):
        if entry.name in skip or (wanted is not None and entry.name not in wanted):
            continue
        _register(pm, entry)
    for obj in extra:
        pm.register(obj)
    if os.environ.get("POSEKIT_TRACE_HOOKS", "") not in ("", "0"):
        _trace(pm)
    return pm


def _register(pm: pluggy.PluginManager, entry: Entry) -> None:
    try:
        plugin = entry.load()
        pm.register(plugin, name=entry.name)
    except Exception as e:
        msg = (
            str(e)
            if isinstance(e, PluginLoadError)
            else (
                f"hook plugin {entry.name} = {entry.value} from {entry.dist} {entry.version} "
                f"could not be registered: {type(e).__name__}: {e}"
            )
        )
        _report(entry, msg, e)
        return
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        pm.unregister(name=entry.name)
        known = ", ".join(sorted(n for n in dir(pm.hook) if not n.startswith("_")))
        msg = (
            f"hook plugin {entry.name} = {entry.value} from {entry.dist} {entry.version} "
            f"implements a hook that posekit does not define: {e}. Known hooks: {known}"
        )
        _report(entry, msg, e)


def _report(entry: Entry, msg: str, cause: BaseException) -> None:
    record_failure(entry, msg)
    if strict():
        raise PluginLoadError(msg) from cause
    warnings.warn(msg, HookLoadWarning, stacklevel=3)
