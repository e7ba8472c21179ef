"""``posekit data``: dataset utilities; ``posekit data synth`` writes a synthetic dataset."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 32 or int(h) < 32:
        raise argparse.ArgumentTypeError(f"--size must be WxH with sides >= 32, e.g. 256x256; got {text!r}")
    return int(w), int(h)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset utilities (synthetic datasets)")
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    s = data_sub.add_parser(
        "synth",
        help="write a synthetic dataset: COCO-format rendered figures, or Human3.6M-format motion",
        description=(
            "coco: OUT/annotations/person_keypoints_{train,val}2017.json and OUT/{train,val}2017/*.jpg "
            "(COCO-17 figures with visibility flags, boxes, areas). "
            "h36m: OUT/annotation_body3d/fps50/h36m_{train,test}.npz and OUT/annotation_body3d/cameras.pkl. "
            "The same seed writes the same files."
        ),
    )
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--format", choices=("coco", "h36m"), default="coco", help="dataset kind (default coco)")
    s.add_argument("--num-train", type=int, default=2000, help="coco: training images (default 2000)")
    s.add_argument("--num-val", type=int, default=200, help="coco: validation images (default 200)")
    s.add_argument("--size", type=_size, default=(256, 256), help="coco: image size WxH (default 256x256)")
    s.add_argument("--frames", type=int, default=250, help="h36m: frames per sequence at 50 fps (default 250)")
    s.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    s.add_argument("--force", action="store_true", help="overwrite a dataset already in --out")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.errors import ConfigError

    existing = [p for p in ("annotations", "annotation_body3d") if (Path(args.out) / p).exists()]
    if existing and not args.force:
        raise ConfigError(
            f"--out {args.out} already holds a dataset ({', '.join(existing)}/); pass another --out, "
            "or --force to overwrite it"
        )
    start = time.perf_counter()
    if args.format == "coco":
        from posekit.synthetic.coco import write_coco_dataset

        if args.num_train < 0 or args.num_val < 0:
            raise ConfigError(f"--num-train and --num-val must be >= 0, got {args.num_train}, {args.num_val}")
        files = write_coco_dataset(args.out, args.num_train, args.num_val, seed=args.seed, size=args.size)
        what = f"{args.num_train} train + {args.num_val} val images"
    else:
        from posekit.synthetic.h36m import write_h36m_dataset

        if args.frames < 1:
            raise ConfigError(f"--frames must be >= 1, got {args.frames}")
        files = write_h36m_dataset(args.out, frames=args.frames, seed=args.seed)
        what = f"{args.frames} frames per sequence"
    print(f"wrote {what} in {time.perf_counter() - start:.1f} s:")
    for name, path in files.items():
        print(f"  {name}: {path}")
    return 0
