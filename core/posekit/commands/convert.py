"""``posekit convert mmpose-config FILE -o OUT.yaml``: an MMPose model config as a posekit experiment."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert configs from other tools")
    csub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    q = csub.add_parser(
        "mmpose-config",
        help="an MMPose model config (.py, read without running it, or .json) -> posekit experiment YAML",
    )
    q.add_argument("file", help="the MMPose .py config or a .json model dict")
    q.add_argument("-o", "--out", required=True, help="the YAML file to write")
    q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.interop.mmpose_config import convert_mmpose_config

    experiment = convert_mmpose_config(args.file, args.out)
    print(f"wrote {args.out} ({experiment['model']['type']})")
    return 0
