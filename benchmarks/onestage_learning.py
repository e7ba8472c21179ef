"""Does a small RTMO learn? A short training run on posekit's synthetic multi-person images, COCO AP and
the wall time after each validation (a learning curve, not a test).

    python benchmarks/onestage_learning.py                      # RTMO, 128x128, the issue's 20-minute target
    python benchmarks/onestage_learning.py --family yoloxpose --epochs 30
    python benchmarks/onestage_learning.py --threads 1 --set model.head.assigner.dynamic_k_indicator=oks

Writes the data (``posekit data synth``) and the run under ``--work`` (default a temporary folder) and
prints ``epoch  AP  AR  minutes`` after each validation. The model is
``plugins/posekit-rtmo/configs/synthetic_<family>.yaml`` at ``--size`` inputs (the synthetic images'
size too), validated every ``--val-interval`` epochs; ``--set KEY=VALUE`` overrides any config field.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from _learning import Clock

import posekit
from posekit.cli import main as posekit_cli

CONFIGS = Path(__file__).resolve().parents[1] / "plugins" / "posekit-rtmo" / "configs"


def config(family: str, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``synthetic_<family>.yaml`` on ``data`` at ``args.size`` inputs, with the run's schedule."""
    size = args.size
    text = (CONFIGS / f"synthetic_{family}.yaml").read_text().replace("[256, 256]", f"[{size}, {size}]")
    cfg = yaml.safe_load(text.replace("data/synthetic", str(data)))
    cfg["work_dir"] = str(work)
    cfg["data"]["train"]["batch_size"] = args.batch
    cfg["optim"]["optimizer"]["lr"] = args.lr
    cfg["optim"]["scheduler"]["warmup_iters"] = args.warmup
    cfg["train"] = {"epochs": args.epochs, "val_interval": args.val_interval, "progress": False, "seed": 0}
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=("rtmo", "yoloxpose"), default="rtmo")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--val-interval", type=int, default=4)
    parser.add_argument("--num-train", type=int, default=400)
    parser.add_argument("--num-val", type=int, default=50)
    parser.add_argument("--size", type=int, default=128, help="input side (the synthetic images' too)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=50, help="warmup iterations")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the data and the run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    args = parser.parse_args()
    if args.threads:  # one thread is faster than two on a machine shared by several runs
        torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix=f"onestage-{args.family}-"))
    data = work / "data"
    synth = ["data", "synth", "--out", str(data), "--num-train", str(args.num_train), "--num-val", str(args.num_val)]
    if posekit_cli([*synth, "--size", f"{args.size}x{args.size}", "--seed", "0"]) != 0:
        raise SystemExit("posekit data synth failed")
    cfg = config(args.family, data, work / "run", args)
    (work / f"{args.family}.json").write_text(json.dumps(cfg))
    print(f"{args.family}: {args.num_train} synthetic images {args.size}x{args.size}, COCO AP after each validation")
    print("epoch      AP      AR  minutes", flush=True)
    clock = Clock()
    from posekit.engine import Trainer

    Trainer(posekit.load_config(cfg, overrides=args.set), work_dir=work / "run", plugins=[clock]).fit()
    print(f"total wall time {(time.time() - clock.start) / 60:.1f} min")


if __name__ == "__main__":
    main()
