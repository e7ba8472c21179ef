"""``posekit convert mmpose-config FILE -o OUT.yaml [--partial]`` (entry point ``posekit.commands``)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert configs from other tools")
    csub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    q = csub.add_parser(
        "mmpose-config",
        help="a whole MMPose config (.py, read without running it, with its _base_ files; or a .json "
        "model dict) -> posekit experiment YAML",
    )
    q.add_argument("file", help="the MMPose .py config or a .json model dict")
    q.add_argument("-o", "--out", required=True, help="the YAML file to write")
    q.add_argument(
        "--partial",
        action="store_true",
        help="write what converts and leave out (listing) what does not, instead of failing",
    )
    q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit_mmpose.convert import convert_mmpose_config

    experiment, problems = convert_mmpose_config(args.file, args.out, partial=args.partial)
    notes = [p for p in problems if not p.fatal]
    left_out = [p for p in problems if p.fatal]
    if notes:
        print("ignored (posekit does without):\n" + "\n".join(str(p) for p in notes))
    if left_out:
        print("left out (--partial):\n" + "\n".join(str(p) for p in left_out))
    sections = ", ".join(k for k in experiment if k != "model")
    print(f"wrote {args.out} ({experiment['model']['type']}; {sections})")
    return 0
