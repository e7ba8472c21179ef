"""The ``posekit`` command line: ``posekit.commands.<name>`` modules and ``posekit.commands`` entry points, each
with ``add_parser(subparsers)`` and ``run(args) -> int``; one that fails to load never takes the others down."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from types import ModuleType

from posekit.errors import PosekitError
from posekit.shipped import install_hint

COMMANDS = ("plugins", "config", "data", "train", "test", "infer")
#: entry-point group of plugin subcommands (a module with ``add_parser`` and ``run``)
COMMANDS_GROUP = "posekit.commands"


def build_parser() -> argparse.ArgumentParser:
    from posekit import __version__

    parser = argparse.ArgumentParser(prog="posekit", description="Pose estimation with pip-installable plugins.")
    parser.add_argument("--version", action="version", version=f"posekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"posekit.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"posekit.commands.{name}":
                continue  # not shipped (yet)
            raise
        module.add_parser(sub)
    for entry in entry_points(group=COMMANDS_GROUP):
        if entry.name in COMMANDS:
            print(
                f"posekit: plugin command {entry.name!r} ({entry.value}) clashes with a core command", file=sys.stderr
            )
            continue
        try:
            entry.load().add_parser(sub)
        except Exception as e:  # a broken plugin never takes the other commands down
            dist = entry.dist.name if entry.dist is not None else "?"
            print(
                f"posekit: plugin command {entry.name!r} ({entry.value}, {dist}) failed to load: {e}", file=sys.stderr
            )
    for p in (parser, *sub.choices.values()):  # before or after the command, as datasette's
        p.add_argument(
            "--plugins-dir",
            default=argparse.SUPPRESS,
            metavar="DIR",
            help="also load components and hooks from DIR/*.py (one-off research code; see posekit.plugins_dir)",
        )
    return parser


def _missing_command(argv: Sequence[str]) -> str | None:
    """Why the first argument is a shipped plugin's command that is not installed, or None."""
    name = next((a for a in argv if not a.startswith("-")), None)
    if name is None or name in COMMANDS or any(e.name == name for e in entry_points(group=COMMANDS_GROUP)):
        return None
    hint = install_hint("command", name)
    return f"`posekit {name}` is a plugin command and no installed distribution registers it.{hint}" if hint else None


def load_command(name: str) -> ModuleType:
    """The plugin command module registered as ``name`` under ``posekit.commands`` (else a PosekitError)."""
    for entry in entry_points(group=COMMANDS_GROUP):
        if entry.name == name:
            return entry.load()
    hint = install_hint("command", name)
    raise PosekitError(f"no installed distribution registers the command {name!r} ({COMMANDS_GROUP}).{hint}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if (missing := _missing_command(argv)) is not None:
        print(f"posekit: error: {missing}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "plugins_dir", None):
            from posekit.registry import refresh

            os.environ["POSEKIT_PLUGINS_DIR"] = str(args.plugins_dir)  # worker processes see it too
            refresh()
        return int(args.func(args) or 0)
    except PosekitError as e:
        print(f"posekit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
