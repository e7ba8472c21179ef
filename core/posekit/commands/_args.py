"""Arguments several subcommands share."""

from __future__ import annotations

import argparse


def add_overrides(p: argparse.ArgumentParser, help: str = "override a field, e.g. train.epochs=20") -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``: config fields overridden by dotted path."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help)
