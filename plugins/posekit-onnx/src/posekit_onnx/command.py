"""``posekit export CONFIG --checkpoint CKPT --format onnx``: a top-down model as an ONNX file."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a top-down model to ONNX (decoding included where the head supplies it)",
        description="The file takes float32 crops (B, 3, H, W) with 0..255 BGR pixels and returns keypoints "
        "(B, K, 2) in crop pixels and scores (B, K), or the head's raw outputs when it has no export decoding "
        "(decoded by its codec at run time); `posekit infer CONFIG --checkpoint FILE.onnx` runs it.",
    )
    p.add_argument("config", help="experiment config, model dict (.json) or MMPose .py config")
    p.add_argument("--checkpoint", help="weights (.pth / .safetensors, MMPose's included)")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="output format (onnx)")
    p.add_argument("-o", "--out", help="output file (default: the checkpoint's name with .onnx)")
    p.add_argument("--dynamic-batch", action="store_true", help="make the batch dimension dynamic")
    p.add_argument("--batch-size", type=int, default=1, help="the fixed batch size without --dynamic-batch (1)")
    p.add_argument(
        "--flip-test",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bake the flip test in (default: the model's test_cfg)",
    )
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (17)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime-vs-torch check")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.apis import init_model
    from posekit_onnx import export_onnx, file_metadata

    out = Path(args.out) if args.out else Path(args.checkpoint or args.config).with_suffix(".onnx")
    model = init_model(args.config, args.checkpoint, optimize=False)  # exported as built; onnxruntime fuses
    path = export_onnx(
        model,
        out,
        dynamic_batch=args.dynamic_batch,
        flip_test=args.flip_test,
        batch_size=args.batch_size,
        opset=args.opset,
        verify=not args.no_verify,
    )
    for note in file_metadata(path)["notes"]:
        print(note)
    print(f"wrote {path}" + ("" if args.no_verify else " (onnxruntime outputs equal torch's to 1e-4)"))
    return 0
