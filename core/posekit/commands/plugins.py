"""``posekit plugins``: every component by kind, its distribution and version, and failures."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list installed components, their distributions and load failures")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--check", action="store_true", help="import every plugin and run quick conformance checks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.registry import GROUPS, entries, problems

    if args.check:
        from posekit.commands.plugin_check import run_checks

        return run_checks()
    rows = [e for kind in (*GROUPS, "hook") for e in entries(kind)]
    if args.json:
        print(
            json.dumps(
                {
                    "components": [
                        {"kind": e.kind, "name": e.name, "dist": e.dist, "version": e.version, "value": e.value}
                        for e in rows
                    ],
                    "problems": [p.__dict__ for p in problems()],
                },
                indent=2,
            )
        )
        return 0
    width = max((len(e.name) for e in rows), default=4)
    kind = None
    for e in rows:
        if e.kind != kind:
            kind = e.kind
            print(f"\n{kind}s" if kind != "data_preprocessor" else "\ndata_preprocessors")
        print(f"  {e.name:<{width}}  {e.dist} {e.version}")
    issues = problems()
    if issues:
        print("\nfailed to load")
        for p in issues:
            print(f"  {p.kind} {p.name} from {p.dist} {p.version}: {p.error}")
    return 0
