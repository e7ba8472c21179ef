"""``posekit new-plugin NAME [--backbone] [--head] [--codec] [--estimator]``: scaffold a plugin."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new-plugin", help="write a new plugin distribution, ready to pip install -e and test")
    p.add_argument("name", help="plugin name, e.g. 'mymodel' (distribution posekit-mymodel)")
    p.add_argument("--out", type=Path, default=None, help="target folder (default: ./posekit-NAME)")
    for kind in ("backbone", "head", "codec", "estimator"):
        p.add_argument(f"--{kind}", action="store_true", help=f"include a {kind} (default: all when none is given)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.scaffold import COMPONENTS, normalize_name, write_plugin

    chosen = tuple(k for k in COMPONENTS if getattr(args, k)) or tuple(COMPONENTS)
    dist, _ = normalize_name(args.name)
    root = write_plugin(args.name, args.out or Path(dist), chosen)
    print(f"wrote {dist} ({', '.join(chosen)}) to {root}")
    print(f"next: pip install -e {root} && pytest {root / 'tests'} && posekit plugins")
    return 0
