"""``posekit config check FILE`` and ``posekit config show FILE``."""

from __future__ import annotations

import argparse

from posekit.commands._args import add_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="validate or print an experiment config")
    csub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, help_ in (
        ("check", "validate a config and every component's arguments, building nothing heavy"),
        ("show", "print the resolved config, defaults included"),
    ):
        q = csub.add_parser(name, help=help_)
        q.add_argument("file")
        add_overrides(q)
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.config import dump_config, load_config

    cfg = load_config(args.file, args.overrides)
    if args.action == "show":
        print(dump_config(cfg), end="")
    else:
        print(f"{args.file}: ok ({cfg.model['type']})")
    return 0
