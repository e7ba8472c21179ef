"""``posekit data synth``: a ``posekit.synthesizers`` function ``write(out, *, seed, <options>) -> {name: path}``
called with the command-line options it declares."""

from __future__ import annotations

import argparse
import inspect
import time
from pathlib import Path


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 32 or int(h) < 32:
        raise argparse.ArgumentTypeError(f"--size must be WxH with sides >= 32, e.g. 256x256; got {text!r}")
    return int(w), int(h)


#: command-line options a synthesizer may declare (parameter name -> flag)
_OPTIONS = {"num_train": "--num-train", "num_val": "--num-val", "size": "--size", "frames": "--frames"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset utilities (synthetic datasets)")
    data_sub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    s = data_sub.add_parser(
        "synth",
        help="write a synthetic dataset with a registered synthesizer (coco: posekit-synthetic)",
        description=(
            "coco: OUT/annotations/person_keypoints_{train,val}2017.json and OUT/{train,val}2017/*.jpg "
            "(COCO-17 figures with visibility flags, boxes, areas). Plugins register more formats under "
            "the entry-point group posekit.synthesizers (`posekit plugins` lists them). "
            "The same seed writes the same files."
        ),
    )
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--format", default="coco", help="a registered synthesizer (default coco)")
    s.add_argument("--num-train", type=int, help="training images (coco default 2000)")
    s.add_argument("--num-val", type=int, help="validation images (coco default 200)")
    s.add_argument("--size", type=_size, help="image size WxH (coco default 256x256)")
    s.add_argument("--frames", type=int, help="frames per sequence (motion synthesizers)")
    s.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    s.add_argument("--force", action="store_true", help="overwrite a dataset already in --out")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from posekit.errors import ConfigError
    from posekit.registry import get, resolve

    write = get("synthesizer", args.format)
    accepted = inspect.signature(write).parameters
    options = {}
    for name, flag in _OPTIONS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if name not in accepted:
            dist = resolve("synthesizer", args.format).dist
            takes = ", ".join(f for n, f in _OPTIONS.items() if n in accepted) or "none of them"
            raise ConfigError(f"{flag} is not an option of synthesizer {args.format!r} ({dist}); it takes {takes}")
        if isinstance(value, int) and value < 0:
            raise ConfigError(f"{flag} must be >= 0, got {value}")
        options[name] = value
    existing = [p for p in ("annotations", "annotation_body3d") if (Path(args.out) / p).exists()]
    if existing and not args.force:
        raise ConfigError(
            f"--out {args.out} already holds a dataset ({', '.join(existing)}/); pass another --out, "
            "or --force to overwrite it"
        )
    start = time.perf_counter()
    files = write(args.out, seed=args.seed, **options)
    print(f"wrote a synthetic {args.format} dataset in {time.perf_counter() - start:.1f} s:")
    for name, path in files.items():
        print(f"  {name}: {path}")
    return 0
