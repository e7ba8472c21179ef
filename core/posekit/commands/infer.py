"""``posekit infer CONFIG --checkpoint CKPT --input PATH``: keypoints of images, folders and videos."""

from __future__ import annotations

import argparse

from posekit.commands._args import add_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "infer",
        help="run a model on an image, a folder, a video (or, for a lifter, a 2D keypoint JSON)",
        description="Writes OUT/predictions/<name>.json and the drawn image or video under OUT/vis/.",
    )
    p.add_argument("config", help="experiment config, model dict (.json) or MMPose .py config")
    p.add_argument("--checkpoint", help="weights (.pth, .safetensors, MMPose's included) or an exported .onnx file")
    p.add_argument(
        "--random-weights", action="store_true", help="predict without --checkpoint, from untrained weights (tests)"
    )
    p.add_argument("--input", required=True, help="image, folder of images, video, or 2D keypoint .json (lifting)")
    p.add_argument("--out", default="work_dirs/infer", help="output folder (default: work_dirs/infer)")
    p.add_argument("--boxes", help="person boxes JSON: COCO detections/annotations, {name: boxes} or a box list")
    p.add_argument(
        "--bbox",
        nargs=4,
        type=float,
        action="append",
        metavar=("X1", "Y1", "X2", "Y2"),
        help="a person box (repeatable), used for every image",
    )
    p.add_argument("--bbox-thr", type=float, default=0.3, help="drop detector/file boxes scoring <= this (0.3)")
    p.add_argument("--detector", help='person detector config: a YAML/JSON file or inline JSON {"type": ...}')
    p.add_argument("--show-kpt-thr", type=float, default=0.3, help="do not draw keypoints scoring <= this (0.3)")
    p.add_argument("--no-draw", action="store_true", help="write predictions only")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--batch-size", type=int, default=16, help="crops per forward (default 16)")
    p.add_argument(
        "--flip-test",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override the model's test_cfg.flip_test",
    )
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="torch compute precision")
    p.add_argument("--no-optimize", action="store_true", help="keep BatchNorm unfolded and the default memory format")
    p.add_argument(
        "--compile", action="store_true", help="compile the backbone with TorchInductor (a one-off 10-60 s per shape)"
    )
    p.add_argument("--det-interval", type=int, default=1, help="video: run the detector every N frames (default 1)")
    p.add_argument("--smooth", action="store_true", help="video: One-Euro smoothing of keypoints per track")
    add_overrides(p, "override an experiment config field")
    p.set_defaults(func=run)


def _detector(text: str | None) -> dict | None:
    import json
    from pathlib import Path

    from posekit.config import read_file
    from posekit.errors import ConfigError

    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--detector: not valid JSON: {e}") from e
    if not Path(text).is_file():
        raise ConfigError(
            f'--detector {text!r}: give a YAML/JSON file or inline JSON {{"type": NAME, ...}} naming a registered '
            "detector (`posekit plugins` lists them)"
        )
    return read_file(text)


def run(args: argparse.Namespace) -> int:
    from posekit.config import load_config
    from posekit.engine.dist import resolve_device
    from posekit.errors import ConfigError
    from posekit.inference import Inferencer
    from posekit.inference.sources import BoxFile

    if args.checkpoint is None and not args.random_weights:
        raise ConfigError(
            "no --checkpoint: the model's weights would be untrained and its predictions meaningless; "
            "pass --checkpoint CKPT, or --random-weights to predict from untrained weights anyway"
        )
    resolve_device(args.device, where="--device")
    config = load_config(args.config, args.overrides) if args.overrides else args.config
    inferencer = Inferencer(
        config,
        args.checkpoint,
        device=args.device,
        detector=_detector(args.detector),
        bbox_thr=args.bbox_thr,
        batch_size=args.batch_size,
        flip_test=args.flip_test,
        optimize=not args.no_optimize,
        compile=args.compile,
        precision=args.precision,
        det_interval=args.det_interval,
        smooth=args.smooth,
    )
    boxes = BoxFile.read(args.boxes) if args.boxes else None
    if args.bbox:
        boxes = BoxFile(args.bbox, "--bbox")
    written = inferencer.run(args.input, args.out, boxes=boxes, show_kpt_thr=args.show_kpt_thr, draw=not args.no_draw)
    print(f"wrote {len(written)} file(s) under {args.out}")
    return 0
