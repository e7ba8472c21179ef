"""``posekit check`` (also ``posekit plugins --check``): build and check every installed component and hook.

Registered under the entry-point group ``posekit.commands``. Each component is built from the
``example_config`` its class declares and checked with the conformance kit
(:func:`posekit_testing.conformance.check_component`); each hook module is imported and
validated as the trainer registers it (misspelt hooks, a hook function without ``@hookimpl``,
a hook name two distributions register, its ``hooks.<name>`` model).
"""

from __future__ import annotations

import argparse

from posekit.registry import GROUPS, Entry, entries


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="build every installed component from its example config and check it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The command's entry: :func:`run_checks`."""
    return run_checks()


def _check_hook(entry: Entry) -> str:
    import pluggy

    from posekit import hookspecs
    from posekit.plugins import PROJECT, config_model, hook_entry, validate_hook
    from posekit.registry import load_entry

    hook_entry(entry.name)  # a name two distributions register
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    plugin = load_entry(entry)
    validate_hook(pm, plugin, entry)
    pm.register(plugin, name=entry.name)
    config_model(entry.name)()  # its section's defaults validate
    return "hooks valid"


def run_checks() -> int:
    """Print one row per component and hook: ok / failed with the reason. Returns 1 if any failed."""
    from posekit_testing.conformance import check_component

    rows: list[tuple[Entry, bool, str]] = []
    for kind in (*GROUPS, "hook"):
        for entry in entries(kind):
            try:
                note = _check_hook(entry) if kind == "hook" else check_component(kind, entry.qualified)
                rows.append((entry, True, note))
            except Exception as e:  # report and go on: one broken plugin must not hide the others
                rows.append((entry, False, f"{type(e).__name__}: {e}".splitlines()[0][:200]))
    width = max((len(e.name) for e, _, _ in rows), default=4)
    for entry, ok, note in rows:
        print(f"{'ok    ' if ok else 'FAILED'}  {entry.kind:<17} {entry.name:<{width}}  {entry.dist:<20} {note}")
    failed = sum(not ok for _, ok, _ in rows)
    print(f"\n{len(rows) - failed} ok, {failed} failed")
    return 1 if failed else 0
