"""``posekit plugins``: every component by kind with its distribution and version, what is broken (exit 1 under
``POSEKIT_STRICT_PLUGINS=1``) and what the ``POSEKIT_LOAD_PLUGINS``/``POSEKIT_DISABLE_PLUGINS`` filters left out."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list installed components, their distributions and load failures")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--check", action="store_true", help="build every component from its example config and check it")
    p.set_defaults(func=run)


def _hook_clashes() -> list[dict[str, str]]:
    from posekit.registry import entries

    by_name: dict[str, list[str]] = {}
    for e in entries("hook"):
        by_name.setdefault(e.name, []).append(f"{e.dist} {e.version}")
    return [
        {"dist": " and ".join(d), "version": "", "kind": "hook", "name": n, "error": "hook name registered twice"}
        for n, d in by_name.items()
        if len(d) > 1
    ]


def run(args: argparse.Namespace) -> int:
    from posekit.registry import GROUPS, entries, missing_modules, problems, skipped, strict

    if args.check:  # the `check` command of posekit.commands (posekit-testing ships it)
        from posekit.cli import load_command

        return int(load_command("check").run(args) or 0)
    rows = [e for kind in (*GROUPS, "hook") for e in entries(kind)]
    broken = [p.__dict__ for p in (*problems(), *missing_modules())] + _hook_clashes()
    left_out: dict[tuple[str, str], str] = {(e.dist, e.version): why for e, why in skipped()}
    left_out = {k: why for k, why in left_out.items() if why.startswith("filtered")}
    if args.json:
        print(
            json.dumps(
                {
                    "components": [
                        {"kind": e.kind, "name": e.name, "dist": e.dist, "version": e.version, "value": e.value}
                        for e in rows
                    ],
                    "problems": broken,
                    "filtered": [{"dist": d, "version": v, "reason": why} for (d, v), why in left_out.items()],
                },
                indent=2,
            )
        )
    else:
        _print_table(rows, broken, left_out)
    return 1 if broken and strict() else 0


def _print_table(rows: list, broken: list[dict[str, str]], left_out: dict[tuple[str, str], str]) -> None:
    width = max((len(e.name) for e in rows), default=4)
    kind = None
    for e in rows:
        if e.kind != kind:
            kind = e.kind
            print(f"\n{kind}s")
        print(f"  {e.name:<{width}}  {e.dist} {e.version}")
    if left_out:
        print("\nnot loaded")
        for (dist, version), why in left_out.items():
            print(f"  {dist} {version}: {why}")
    if broken:
        print("\nbroken (POSEKIT_STRICT_PLUGINS=1 makes this an error)")
        for p in broken:
            print(f"  {p['kind']} {p['name']} from {p['dist']} {p['version']}: {p['error']}")
