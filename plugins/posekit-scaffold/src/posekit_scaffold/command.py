"""``posekit new-plugin NAME [--backbone] [--head] [--codec] [--estimator]``: scaffold a plugin."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new-plugin", help="write a new plugin distribution, ready to pip install -e and test")
    p.add_argument("name", help="plugin name, e.g. 'hand-pose' (distribution posekit-hand-pose, classes HandPose*)")
    p.add_argument("--out", type=Path, default=None, help="target folder (default: ./posekit-NAME)")
    for kind in ("backbone", "head", "codec", "estimator"):
        p.add_argument(f"--{kind}", action="store_true", help=f"include a {kind} (default: all when none is given)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit_scaffold import COMPONENTS, plugin_names, write_plugin

    chosen = tuple(k for k in COMPONENTS if getattr(args, k)) or tuple(COMPONENTS)
    try:
        names = plugin_names(args.name)
        root = write_plugin(args.name, args.out or Path(names.dist), chosen)
    except (FileExistsError, ValueError) as e:
        print(f"posekit new-plugin: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {names.dist} ({', '.join(names.cls(c) for c in chosen)}) to {root}")
    print(f"next: pip install -e {root} && pytest {root / 'tests'} && posekit plugins | grep {names.dist}")
    return 0
