"""What the learning-curve benchmarks share: the synthetic multi-person data, a plugin's synthetic config
moved to it and to another input size, and a hook printing COCO AP, AR and the wall time after each validation.

Used by ``bottomup_learning.py`` and ``onestage_learning.py``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

import posekit
from posekit.cli import main as posekit_cli

#: the shipped synthetic configs' data folder (``posekit data synth --out data/synthetic``)
SYNTHETIC_ROOT = "data/synthetic"


def add_run_arguments(parser: argparse.ArgumentParser, *, epochs: int, val_interval: int, batch: int) -> None:
    """The options every learning-curve run takes: schedule, data size, input size, threads, work folder."""
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--val-interval", type=int, default=val_interval, help="epochs between validations")
    parser.add_argument("--num-train", type=int, default=400, help="synthetic training images")
    parser.add_argument("--num-val", type=int, default=50, help="synthetic validation images")
    parser.add_argument("--size", type=int, default=128, help="input side (the synthetic images' too)")
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the data and the run (default: temporary)")
    parser.add_argument("--device", default="cpu", help="train.device (cpu, cuda)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")


def prepare(args: argparse.Namespace, prefix: str) -> tuple[Path, Path]:
    """Set the torch threads, write the synthetic data (``posekit data synth``, seed 0) under the work folder
    unless it is there.

    Returns:
        the work folder and the data folder in it.
    """
    if args.threads:  # one thread is faster than two on a machine shared by several runs
        torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    data = work / f"data-{args.size}px-{args.num_train}-{args.num_val}"
    if not (data / "annotations").exists():
        synth = ["data", "synth", "--out", str(data), "--num-train", str(args.num_train)]
        synth += ["--num-val", str(args.num_val), "--size", f"{args.size}x{args.size}", "--seed", "0"]
        if posekit_cli(synth) != 0:
            raise SystemExit("posekit data synth failed")
    return work, data


def _resized(node: Any, factor: float) -> Any:
    """``node`` with every ``input_size`` / ``heatmap_size`` pair multiplied by ``factor``."""
    if isinstance(node, dict):
        return {
            k: [round(v * factor) for v in value] if k in ("input_size", "heatmap_size") else _resized(value, factor)
            for k, value in node.items()
        }
    if isinstance(node, list):
        return [_resized(v, factor) for v in node]
    return node


def _sizes(node: Any) -> list[int]:
    """Every side of every ``input_size`` in ``node``."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (v if k == "input_size" else _sizes(v))]
    if isinstance(node, list):
        return [s for v in node for s in _sizes(v)]
    return []


def synthetic_config(path: Path, data: Path, work: Path, size: int) -> dict[str, Any]:
    """The experiment of ``path`` (a shipped ``synthetic_*.yaml``) on ``data`` at ``size`` x ``size`` inputs.

    Every ``input_size`` and ``heatmap_size`` scales by ``size`` over the config's input side (the
    pipeline's, model's and metric's alike); ``data/synthetic`` paths become ``data``.
    """
    cfg = yaml.safe_load(path.read_text().replace(SYNTHETIC_ROOT, str(data)))
    sides = set(_sizes(cfg))
    if len(sides) != 1:
        raise ValueError(f"{path}: expected one square input_size throughout, got {sorted(sides)}")
    cfg = _resized(cfg, size / sides.pop())
    cfg["work_dir"] = str(work)
    return cfg


class Clock:
    """Prints each validation's COCO AP / AR and the minutes since training started."""

    def __init__(self) -> None:
        self.start = time.time()

    @posekit.hookimpl
    def before_run(self) -> None:
        self.start = time.time()

    @posekit.hookimpl
    def after_val(self, epoch: int, metrics: dict[str, float]) -> None:
        minutes = (time.time() - self.start) / 60
        print(f"{epoch + 1:5d}  {metrics['coco/AP']:.4f}  {metrics['coco/AR']:.4f}  {minutes:7.1f}", flush=True)


def train(cfg: dict[str, Any], work: Path, title: str, args: argparse.Namespace) -> None:
    """Train ``cfg`` in ``work`` on ``args.device`` with ``args.set`` overrides, printing ``epoch AP AR minutes``
    after each validation and the total time."""
    from posekit.engine import Trainer

    cfg["train"] = {**cfg.get("train", {}), "device": args.device}
    print(f"{title} on {args.device}, COCO AP after each validation; overrides: {args.set or 'none'}")
    print("epoch      AP      AR  minutes", flush=True)
    clock = Clock()
    Trainer(posekit.load_config(cfg, overrides=args.set), work_dir=work, plugins=[clock]).fit()
    print(f"total wall time {(time.time() - clock.start) / 60:.1f} min")
