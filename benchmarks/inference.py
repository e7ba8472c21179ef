"""End-to-end top-down inference against MMPose, timed in the same run, and against this CPU's measured peak.

Prints the CPU capability torch reports (AVX2 / AVX512 / AMX) and the fp32 matmul peak measured in
this run. For RTMPose-m and HRNet-w32 (the shipped example configs, 256x192, flip test on) one
MMPose-format checkpoint with random weights and random BatchNorm statistics is saved, then for 1
and 8 boxes on ``../shared/data/coco/000000197388.jpg`` (image pre-loaded), timed in alternating
rounds (A B C ..., median of ``--runs``):

- ``posekit``: ``posekit.init_model(config, checkpoint)`` + ``posekit.inference_topdown`` (the
  default optimized model);
- ``MMPose``: MMPose 1.3.2's ``init_model`` + ``inference_topdown`` of the same model dict and
  checkpoint, in its own environment (``--mmpose PYTHON``, default the one ``mmpose_env.sh`` makes;
  ``mmpose_worker.py``); without it, BASELINES.md's figures (another machine: the ratio is marked);
- ``before`` (with ``--before PYTHON``): the same public API path of another checkout's posekit (its
  ``.venv``'s Python; ``posekit_worker.py``), to measure a change before/after in one run;
- ``torchscript``: the default path with frozen TorchScript traces where it has onnxruntime graphs
  (``freeze_feature_extractor(model, onnxruntime=False)``);
- ``not frozen``: the default path less its per-shape graphs (BatchNorm folded, channels_last only);
- ``onnxruntime``: the ``posekit export`` graph (dynamic batch) through ``Inferencer``;
- ``bf16``: ``Inferencer(precision="bf16")``, only where oneDNN has native bf16 (AVX512-BF16/AMX);
- ``int8``: the exported graph statically quantized by onnxruntime (QDQ, per-channel weights,
  calibrated on crops of the shared COCO images).

``fwd`` is posekit's model forward alone (the ``2B`` crops of the flip test, normalised, in one
batch), its GFLOP/s (torch's FlopCounterMode, multiply and add counted apart) and its share of the
measured peak. Target: posekit >= 1.5x MMPose where the forward is below 85% of the peak.
``check`` is each backend's largest keypoint distance from the unoptimised fp32 model on the timed
boxes; the reduced precisions' change is then measured on every person of the shared COCO images
(random weights give nearly flat heatmaps and SimCC vectors, so rounding can move an argmax across
a near-tie: the median is the fair figure, the maximum shows such jumps).

    python benchmarks/inference.py [--runs 15] [--models rtmpose-m hrnet-w32] [--boxes 1 8]
                                   [--mmpose PYTHON] [--before PYTHON] [--no-reduced]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from _examples import HRNET_W32, RTMPOSE_M, example_model, randomize_norms
from _machine import bf16_supported, interleaved_medians, machine_line, matmul_peak_gflops
from _mmpose import DEFAULT_MMPOSE, MMPoseWorker
from posekit_onnx.extractor import freeze_feature_extractor
from posekit_testing.conformance import shared_dir
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import posekit
from posekit.inference import Inferencer
from posekit.nn import optimize_for_inference

IMAGE = "data/coco/000000197388.jpg"  # 640 x 392, as BASELINES.md
MODELS = {"rtmpose-m": ("RTMPose-m", RTMPOSE_M), "hrnet-w32": ("HRNet-w32", HRNET_W32)}
TARGET, PEAK_SHARE = 1.5, 0.85


def flip_config(name: str) -> dict[str, Any]:
    model = example_model(name)
    model["test_cfg"] = {**model.get("test_cfg", {}), "flip_test": True}
    return model


def boxes_for(img: np.ndarray, count: int) -> np.ndarray:
    """``count`` person-sized boxes spread over the image (deterministic)."""
    h, w = img.shape[:2]
    rng = np.random.default_rng(0)
    x1 = rng.uniform(0, w * 0.6, count)
    y1 = rng.uniform(0, h * 0.3, count)
    bw = rng.uniform(0.15, 0.35, count) * w
    bh = rng.uniform(0.5, 0.7, count) * h
    return np.stack([x1, y1, np.minimum(x1 + bw, w), np.minimum(y1 + bh, h)], axis=1).astype(np.float32)


def coco_people(shared: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(image, xyxy boxes (N, 4))`` of every shared COCO image with annotated people."""
    ann = json.loads((shared / "data/coco/test_coco.json").read_text())
    boxes: dict[int, list[list[float]]] = {}
    for a in ann["annotations"]:
        if a.get("num_keypoints", 1) > 0:
            x, y, w, h = a["bbox"]
            boxes.setdefault(a["image_id"], []).append([x, y, x + w, y + h])
    out = []
    for info in ann["images"]:
        if info["id"] in boxes:
            out.append((cv2.imread(str(shared / "data/coco" / info["file_name"])), np.array(boxes[info["id"]], "f4")))
    return out


def threads_healthy() -> bool:
    """False when torch's OpenMP threads share one vCPU (a parallel region then costs ~8 ms)."""
    a = torch.randn(256, 256)
    for _ in range(3):
        a @ a
    start = time.perf_counter()
    for _ in range(20):
        a @ a
    return (time.perf_counter() - start) / 20 < 4e-3


def keypoints_of(people: list[Any]) -> np.ndarray:
    return np.stack([p.keypoints for p in people])


def save_checkpoint(config: dict[str, Any], path: Path) -> Path:
    """An MMPose-format checkpoint (``{"state_dict": ...}`` by MMPose's keys) of random weights."""
    torch.manual_seed(0)
    model = posekit.init_model(config, optimize=False)
    randomize_norms(model)
    torch.save({"state_dict": model.state_dict(), "meta": {}}, path)
    return path


def forward_fn(model: nn.Module, img: np.ndarray, boxes: np.ndarray) -> tuple[Callable[[], Any], float]:
    """posekit's forward of the flip test's ``2B`` normalised crops, and its GFLOPs."""
    serving = model.serving()
    samples = serving.preprocess(img, boxes, np.ones(len(boxes), np.float32))
    x = model.data_preprocessor.normalize(torch.stack([s.inputs for s in samples]))
    x2 = torch.cat([x, x.flip(-1)])
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x2)

    def run() -> None:
        with torch.inference_mode():
            model(x2)

    return run, counter.get_total_flops() / 1e9


def int8_model(onnx_path: Path, calib: list[np.ndarray], out: Path) -> Path:
    """``onnx_path`` statically quantized to int8 (QDQ, per-channel weights) on the ``calib`` crops."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": c} for c in calib])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    quantize_static(
        str(onnx_path), str(out), Crops(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
    )  # fmt: skip
    proto, source = onnx.load(str(out)), onnx.load(str(onnx_path))
    del proto.metadata_props[:]
    proto.metadata_props.extend(source.metadata_props)  # what the posekit backend reads
    onnx.save(proto, str(out))
    return out


def within(got: np.ndarray, ref: np.ndarray, tol: float = 0.05) -> str:
    """How many keypoints of ``got`` lie within ``tol`` px of ``ref`` (both ``(N, K, 2)``)."""
    close = np.abs(got - ref).max(axis=-1) <= tol
    return f"{int(close.sum())}/{close.size} keypoints within {tol} px"


def px_change(runner: Any, reference: Any, people: list[tuple[np.ndarray, np.ndarray]]) -> str:
    """Median and largest keypoint distance (px) of ``runner`` from ``reference`` over ``people``."""
    dist = np.concatenate(
        [np.linalg.norm(keypoints_of(runner(img, b)) - keypoints_of(reference(img, b)), axis=-1).ravel()
         for img, b in people]
    )  # fmt: skip
    median, p90 = np.median(dist), np.percentile(dist, 90)
    return f"{len(dist)} keypoints: median {median:.2f} px, p90 {p90:.2f}, max {dist.max():.1f}"


def bench_model(
    key: str, args: argparse.Namespace, shared: Path, peak: float, tmp: Path, mmpose: Any, before: Any
) -> None:
    title, name = MODELS[key]
    config = flip_config(name)
    checkpoint = save_checkpoint(config, tmp / f"{key}.pth")
    img = cv2.imread(str(shared / IMAGE))
    model = posekit.init_model(config, checkpoint)
    plain = posekit.init_model(config, checkpoint, optimize=False)
    runners: dict[str, Any] = {}
    from posekit_onnx import export_onnx

    onnx_path = export_onnx(plain, tmp / f"{key}.onnx", dynamic_batch=True, verify=False)
    # the default path with TorchScript traces instead of onnxruntime graphs, and without either
    scripted = optimize_for_inference(posekit.init_model(config, checkpoint, optimize=False))
    runners["torchscript"] = plain_runner(freeze_feature_extractor(scripted, onnxruntime=False))
    runners["not frozen"] = plain_runner(optimize_for_inference(posekit.init_model(config, checkpoint, optimize=False)))
    runners["onnxruntime"] = Inferencer(None, onnx_path, batch_size=8)
    people = coco_people(shared)
    if args.reduced:
        if bf16_supported():
            runners["bf16"] = Inferencer(config, checkpoint, precision="bf16", batch_size=8)
        serving = plain.serving()
        calib = [
            torch.stack([s.inputs for s in serving.preprocess(im, b, np.ones(len(b), "f4"))]).float().numpy()
            for im, b in people
        ]
        runners["int8"] = Inferencer(None, int8_model(onnx_path, calib, tmp / f"{key}-int8.onnx"), batch_size=8)
    mm_note = ""
    if mmpose is not None:
        mm_params = mmpose.ask(topdown=config, checkpoint=str(checkpoint), image=str(shared / IMAGE))["params"]
        if mm_params != sum(p.numel() for p in plain.parameters()):
            mm_note = f" (WARNING: MMPose's model has {mm_params} parameters)"
    if before is not None:
        before.ask(topdown=config, checkpoint=str(checkpoint), image=str(shared / IMAGE))
    print(f"\n{title}, flip test on, {IMAGE}{mm_note}")
    cols = f"{'ms':>8}{'MMPose ms':>10}{'ratio':>7}{'fwd ms':>8}{'GFLOP/s':>8}{'% peak':>7}"
    print(f"  {'boxes':>5} {'path':12}{cols}  check")
    for count in args.boxes:
        boxes = boxes_for(img, count)
        ref = keypoints_of(posekit.inference_topdown(plain, img, boxes))
        fwd, gflops = forward_fn(model, img, boxes)
        mm_kpts = None
        fns: dict[str, Callable[[], Any]] = {"posekit": lambda b=boxes: posekit.inference_topdown(model, img, b)}
        if mmpose is not None:
            fns["MMPose"] = lambda b=boxes.tolist(): float(mmpose.ask(boxes=b)["ms"])
            mm_kpts = np.asarray(mmpose.ask(boxes=boxes.tolist())["keypoints"], np.float32)
        if before is not None:
            fns["before"] = lambda b=boxes.tolist(): float(before.ask(boxes=b)["ms"])
        fns.update({n: (lambda r=r, b=boxes: r(img, b)) for n, r in runners.items()})
        fns["fwd"] = fwd
        ms = interleaved_medians(fns, args.runs)
        mm_ms = ms.get("MMPose", args.baseline.get((title, count)))
        src = "" if "MMPose" in ms else "*"
        share = gflops / (ms["fwd"] * 1e-3) / peak
        ratio = mm_ms / ms["posekit"] if mm_ms else float("nan")
        need = "target met" if ratio >= TARGET or share >= PEAK_SHARE else f"BELOW {TARGET}x"
        got = keypoints_of(posekit.inference_topdown(model, img, boxes))
        check = f"{within(got, ref)} of the unoptimised model's"
        if mm_kpts is not None:
            check += f"; MMPose's: {within(mm_kpts, ref)}"
        mm_txt = f"{mm_ms:9.1f}{src}" if mm_ms else f"{'-':>10}"
        print(
            f"  {count:5d} {'posekit':12}{ms['posekit']:8.1f}{mm_txt}{ratio:6.2f}x{ms['fwd']:8.1f}"
            f"{gflops / (ms['fwd'] * 1e-3):8.1f}{100 * share:6.0f}%  {need}; {check}"
        )
        if before is not None:
            before_kpts = np.asarray(before.ask(boxes=boxes.tolist())["keypoints"], np.float32)
            print(
                f"  {count:5d} {'before':12}{ms['before']:8.1f}{'':10}{'':7}{'':8}{'':8}{'':7}  "
                f"{ms['before'] / ms['posekit']:.2f}x: this checkout's speed over the --before checkout's; "
                f"{within(before_kpts, ref)}"
            )
        for n, r in runners.items():
            diff = within(keypoints_of(r(img, boxes)), ref)
            print(
                f"  {count:5d} {n:12}{ms[n]:8.1f}{'':10}{'':7}{'':8}{'':8}{'':7}  "
                f"{ms['posekit'] / ms[n]:.2f}x the speed of posekit's default; {diff}"
            )
        sys.stdout.flush()
    for n in ("bf16", "int8"):
        if n in runners:
            change = px_change(runners[n], plain_runner(plain), people)
            print(f"  {n} change from fp32 on the shared COCO people: {change}")


def plain_runner(model: nn.Module) -> Callable[[np.ndarray, np.ndarray], Any]:
    return lambda img, boxes: posekit.inference_topdown(model, img, boxes)


def baseline_figures(shared: Path) -> dict[tuple[str, int], float]:
    """``{(model title, boxes): ms}`` of BASELINES.md's flip-on end-to-end rows (another machine: a fallback)."""
    import re

    text = (shared / "BASELINES.md").read_text() if (shared / "BASELINES.md").is_file() else ""
    section = text.split("## End-to-end top-down inference", 1)[-1].split("\n## ", 1)[0]
    out = {}
    for model, one, eight in re.findall(r"\|\s*([\w-]+)\s*\|\s*on[^|]*\|\s*([\d.]+) ms\s*\|\s*([\d.]+) ms", section):
        out[(model, 1)], out[(model, 8)] = float(one), float(eight)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--boxes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--mmpose", default=DEFAULT_MMPOSE, help="Python of MMPose's environment (mmpose_env.sh)")
    parser.add_argument("--before", help="Python of another checkout's .venv: its posekit timed in the same run")
    parser.add_argument("--no-reduced", dest="reduced", action="store_false", help="skip bf16 and int8")
    args = parser.parse_args(argv)
    shared = shared_dir()
    if shared is None:
        print("needs ../shared (the COCO images); set POSEKIT_SHARED", file=sys.stderr)
        return 2
    if not threads_healthy():
        tries = int(os.environ.get("POSEKIT_BENCH_TRIES", "0"))
        if tries < 3:  # a fresh process usually gets its threads placed on distinct vCPUs
            print("torch's threads look co-scheduled on one vCPU; restarting the process", file=sys.stderr)
            os.environ["POSEKIT_BENCH_TRIES"] = str(tries + 1)
            os.execv(sys.executable, [sys.executable, *sys.argv])
        print("warning: torch's threads still look co-scheduled (or the machine is loaded)", file=sys.stderr)
    peak = matmul_peak_gflops()
    print(machine_line(peak))
    args.baseline = baseline_figures(shared)
    mmpose = MMPoseWorker(args.mmpose) if os.path.exists(args.mmpose) else None
    if mmpose is None:
        print(f"no MMPose environment at {args.mmpose}: MMPose ms marked * are BASELINES.md's (another machine)")
    before = MMPoseWorker(args.before, "posekit_worker.py") if args.before else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for key in args.models:
                bench_model(key, args, shared, peak, Path(tmp), mmpose, before)
    finally:
        for worker in (mmpose, before):
            if worker is not None:
                worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
