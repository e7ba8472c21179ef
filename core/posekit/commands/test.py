"""``posekit test CONFIG --checkpoint CKPT`` and ``posekit test CONFIG --results FILE``."""

from __future__ import annotations

import argparse
from pathlib import Path

from posekit.commands._args import add_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "test",
        help="evaluate a checkpoint (or a results file a metric wrote) with the config's metrics",
        description=(
            "Evaluate CKPT on the config's test split (its val split when it has none), or, with --results, "
            "evaluate a results file (e.g. a COCO keypoint results json) with the first evaluator metric "
            "that reads one, without a model."
        ),
    )
    p.add_argument("config", help="experiment config (.yaml, .toml or .json)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="the checkpoint to evaluate (posekit or MMPose)")
    what.add_argument("--results", help="a results file (e.g. COCO keypoint json) to evaluate without a model")
    add_overrides(p)
    p.add_argument("--out", help="also write the metrics to this JSON file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.commands._logging import setup_logging
    from posekit.config import load_config
    from posekit.jsonsafe import scalars_json

    cfg = load_config(args.config, args.overrides)
    setup_logging()
    if args.results is not None:
        from posekit.engine.evaluation import evaluate_results

        metrics = evaluate_results(cfg, args.results)
    else:
        from posekit.engine.evaluation import evaluate_checkpoint

        metrics = evaluate_checkpoint(cfg, args.checkpoint)
    if metrics is None:  # a rank other than 0 under torchrun
        return 0
    width = max((len(k) for k in metrics), default=0)
    for key, value in metrics.items():
        print(f"{key:<{width}}  {value:.4f}")
    if args.out is not None:
        Path(args.out).write_text(scalars_json(metrics, indent=2) + "\n")
    return 0
