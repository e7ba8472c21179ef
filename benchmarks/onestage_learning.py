"""Does a small RTMO learn? A short training run on posekit's synthetic multi-person images, COCO AP and
the wall time after each validation (a learning curve, not a test).

    python benchmarks/onestage_learning.py                      # RTMO: the issue's 20-minute run on a 2-core CPU
    python benchmarks/onestage_learning.py --family yoloxpose --epochs 30
    python benchmarks/onestage_learning.py --device cuda --epochs 30 --val-interval 2 --threads 1

Writes the data (``posekit data synth``; reused when already there) and the run under ``--work`` (default a
temporary folder) and prints ``epoch  AP  AR  minutes`` after each validation. The model is
``plugins/posekit-rtmo/configs/synthetic_<family>.yaml`` at ``--size`` inputs (the synthetic images' size too),
validated every ``--val-interval`` epochs; ``--set KEY=VALUE`` overrides any config field.

The defaults are the 20-minute run: 2,000 192x192 images, 44 epochs (5,500 steps of 16, the cosine schedule
ending with them), AdamW at lr 4e-3, on the machine's threads, validated on 100 images every 4 epochs; on a
2-core CPU AP 0.506 at 16.9 minutes, 0.507 at 18.9 and 0.510 at 20.8 (lr 2e-3: 0.413 at 18.5). Per step,
CPU and CUDA learn alike (AP 0.009 / 0.026 / 0.098 after 2 / 4 / 6 epochs on this CPU, 0.004 / 0.026 / 0.064
on the H200); what a run reaches in its minutes is the steps it takes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _learning import add_run_arguments, prepare, synthetic_config, train

CONFIGS = Path(__file__).resolve().parents[1] / "plugins" / "posekit-rtmo" / "configs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=("rtmo", "yoloxpose"), default="rtmo")
    add_run_arguments(parser, epochs=44, val_interval=4, batch=16)
    parser.set_defaults(size=192, num_train=2000, num_val=100, threads=0)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--warmup", type=int, default=50, help="warmup iterations")
    args = parser.parse_args()
    work, data = prepare(args, f"onestage-{args.family}")
    cfg = synthetic_config(CONFIGS / f"synthetic_{args.family}.yaml", data, work / "run", args.size)
    cfg["data"]["train"]["batch_size"] = args.batch
    cfg["optim"]["optimizer"]["lr"] = args.lr
    cfg["optim"]["scheduler"]["warmup_iters"] = args.warmup
    schedule = {"epochs": args.epochs, "val_interval": args.val_interval, "progress": False, "seed": 0}
    cfg["train"] = {**cfg.get("train", {}), **schedule}  # the config's other train settings (channels_last) stay
    train(cfg, work / "run", f"{args.family}: {args.num_train} synthetic images {args.size}x{args.size}", args)


if __name__ == "__main__":
    main()
