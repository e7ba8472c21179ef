"""``posekit train CONFIG [--set k=v ...] [--work-dir DIR] [--resume [CKPT]]`` (also under ``torchrun``)."""

from __future__ import annotations

import argparse
import sys

from posekit.commands._args import add_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from an experiment config",
        description="Train a model. Distributed: torchrun --nproc-per-node N -m posekit train CONFIG",
    )
    p.add_argument("config", help="experiment config (.yaml, .toml or .json)")
    add_overrides(p)
    p.add_argument("--work-dir", help="where checkpoints and logs go (default: the config's work_dir)")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CKPT",
        help="continue from CKPT, or without a path from the latest checkpoint in the work dir",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.commands._logging import setup_logging
    from posekit.config import load_config

    cfg = load_config(args.config, args.overrides)  # validates every component before anything is built
    if args.work_dir is not None:
        cfg = cfg.model_copy(update={"work_dir": args.work_dir})
    setup_logging()

    from posekit.engine import Trainer

    trainer = Trainer(cfg, resume=args.resume)
    trainer.fit()
    if trainer.stop_reason is not None:
        print(f"posekit train: {trainer.stop_reason}", file=sys.stderr)
        return 1
    return 0
