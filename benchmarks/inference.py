"""End-to-end top-down inference latency (image + boxes in, keypoints out) beside MMPose's figures.

Models: RTMPose-m (CSPNeXt-m deepen 0.67 widen 0.75 + RTMCCHead in_channels 768) and HRNet-w32
(HeatmapHead, MSRA heatmaps), 256x192, random weights. For 1 and 8 boxes on the 640x392 COCO
image, flip test on and off, the median latency of ``Inferencer(img, boxes)`` (image already
loaded, all boxes in one batch, decoding included) for:

- ``torch``: eager fp32 with ``optimize_for_inference`` (BatchNorm folded, channels_last);
- ``torch-compile``: the same, backbone and neck compiled by TorchInductor with frozen weights
  (``Inferencer(compile=True)``; compilation happens in the warm-up and is timed separately);
- ``torch-bf16``: the backbone in bfloat16 (accuracy change reported);
- ``onnxruntime``: the ``posekit export`` graph (decoding in the graph).

Every backend's keypoints are checked against the unoptimised fp32 torch model (parity:
0.05 px, scores 1e-4 relative) and the count within tolerance is printed; with random weights
the heatmaps and SimCC vectors are nearly flat, so float rounding can move an argmax across a
near-tie (a jump of one heatmap pixel), which the count shows. bf16 reports its change the same way. MMPose's figures
(``../shared/BASELINES.md``, ``mmpose.apis.inference_topdown``) are printed beside as ratios
(MMPose / posekit: > 1 is faster; MMPose was not run here, so on a loaded machine this ratio
drifts with the load). ``vs eager`` is the speed-up over posekit's own unoptimised fp32 model,
timed interleaved with it in the same rounds, which load drift affects far less. Target: >= 1.5x
MMPose with the same model, boxes and flip.

    python benchmarks/inference.py [--runs 15] [--models rtmpose-m hrnet-w32]
                                   [--backends torch torch-compile torch-bf16 onnxruntime]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from _examples import HRNET_W32, RTMPOSE_M, example_model
from posekit_testing.conformance import shared_dir

from posekit.inference import Inferencer

IMAGE = "data/coco/000000197388.jpg"  # 640 x 392, as BASELINES.md


def _example(name: str) -> Any:
    def make(flip: bool) -> dict[str, Any]:
        model = example_model(name)
        model["test_cfg"] = {**model.get("test_cfg", {}), "flip_test": flip}
        return model

    return make


MODELS = {"rtmpose-m": ("RTMPose-m", _example(RTMPOSE_M)), "hrnet-w32": ("HRNet-w32", _example(HRNET_W32))}


def mmpose_figures(shared: Path | None) -> dict[tuple[str, bool, int], float]:
    """``{(model title, flip, boxes): ms}`` from BASELINES.md's end-to-end table."""
    if shared is None or not (shared / "BASELINES.md").is_file():
        return {}
    text = (shared / "BASELINES.md").read_text()
    section = text.split("## End-to-end top-down inference", 1)[-1].split("\n## ", 1)[0]
    out = {}
    for model, flip, one, eight in re.findall(
        r"\|\s*([\w-]+)\s*\|\s*(on|off)[^|]*\|\s*([\d.]+) ms\s*\|\s*([\d.]+) ms", section
    ):
        out[(model, flip == "on", 1)] = float(one)
        out[(model, flip == "on", 8)] = float(eight)
    return out


def boxes_for(img: np.ndarray, count: int) -> np.ndarray:
    """``count`` person-sized boxes spread over the image (deterministic)."""
    h, w = img.shape[:2]
    rng = np.random.default_rng(0)
    x1 = rng.uniform(0, w * 0.6, count)
    y1 = rng.uniform(0, h * 0.3, count)
    bw = rng.uniform(0.15, 0.35, count) * w
    bh = rng.uniform(0.5, 0.7, count) * h
    return np.stack([x1, y1, np.minimum(x1 + bw, w), np.minimum(y1 + bh, h)], axis=1).astype(np.float32)


def threads_healthy() -> bool:
    """False when torch's OpenMP threads share one vCPU (a parallel region then costs ~8 ms)."""
    a = torch.randn(256, 256)
    for _ in range(3):
        a @ a
    start = time.perf_counter()
    for _ in range(20):
        a @ a
    return (time.perf_counter() - start) / 20 < 4e-3


def interleaved_medians(fns: dict[str, Any], runs: int, warmup: int = 2) -> dict[str, float]:
    """Median ms of each function, timed in rounds (A B C, A B C, ...) so load drift hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(t) for name, t in times.items()}


def stack(people: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([p.keypoints for p in people]), np.stack([p.keypoint_scores for p in people])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--backends", nargs="+", default=["torch", "torch-compile", "torch-bf16", "onnxruntime"])
    parser.add_argument("--boxes", nargs="+", type=int, default=[1, 8])
    args = parser.parse_args(argv)

    shared = shared_dir()
    if shared is None:
        print("needs ../shared (the COCO image and BASELINES.md); set POSEKIT_SHARED", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    if not threads_healthy():
        tries = int(os.environ.get("POSEKIT_BENCH_TRIES", "0"))
        if tries < 3:  # a fresh process usually gets its threads placed on distinct vCPUs
            print("torch's threads look co-scheduled on one vCPU; restarting the process", file=sys.stderr)
            os.environ["POSEKIT_BENCH_TRIES"] = str(tries + 1)
            os.execv(sys.executable, [sys.executable, *sys.argv])
        print("warning: torch's threads still look co-scheduled (or the machine is loaded)", file=sys.stderr)
    img = cv2.imread(str(shared / IMAGE))
    baseline = mmpose_figures(shared)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; image {IMAGE} {img.shape[1]}x{img.shape[0]}")
    header = (
        f"{'model':10} {'flip':4} {'boxes':5} {'backend':12} {'posekit ms':>10} {'MMPose ms':>9} {'ratio':>6} "
        f"{'vs eager':>8}  check"
    )
    print(header)
    print("-" * len(header))
    from posekit_onnx import export_onnx  # posekit-onnx

    from posekit.apis import init_model

    with tempfile.TemporaryDirectory() as tmp:
        for key in args.models:
            title, make = MODELS[key]
            checkpoint = Path(tmp) / f"{key}.pth"
            torch.save({"state_dict": init_model(make(True)).state_dict()}, checkpoint)
            for flip in (True, False):
                config = make(flip)
                reference = Inferencer(config, checkpoint, optimize=False, batch_size=8)
                runners: dict[str, Inferencer] = {}
                for backend in args.backends:
                    if backend == "onnxruntime":
                        path = export_onnx(
                            init_model(config, checkpoint),
                            Path(tmp) / f"{key}-{flip}.onnx",
                            dynamic_batch=True,
                            verify=False,
                        )
                        runners[backend] = Inferencer(None, path, batch_size=8)
                    else:
                        precision = "bf16" if backend == "torch-bf16" else "fp32"
                        runners[backend] = Inferencer(
                            config, checkpoint, precision=precision, compile=backend == "torch-compile", batch_size=8
                        )
                for count in args.boxes:
                    boxes = boxes_for(img, count)
                    ref_k, ref_s = stack(reference(img, boxes))
                    checks = {}
                    for backend, runner in runners.items():
                        start = time.perf_counter()
                        got_k, got_s = stack(runner(img, boxes))
                        first_s = time.perf_counter() - start
                        within = np.abs(got_k - ref_k).max(axis=-1) <= 0.05
                        ds = float(np.abs(got_s - ref_s).max() / max(np.abs(ref_s).max(), 1e-12))
                        check = f"{int(within.sum())}/{within.size} keypoints within 0.05 px, scores {ds:.1e}"
                        if backend == "torch-bf16":
                            check = "bf16 change: " + check
                        elif within.all() and ds <= 1e-4:
                            check = "ok: " + check
                        if backend == "torch-compile":
                            check += f"; first call (compiling) {first_s:.0f} s"
                        checks[backend] = check
                    fns = {
                        name: (lambda r=r, b=boxes: r(img, b)) for name, r in {"eager": reference, **runners}.items()
                    }
                    medians = interleaved_medians(fns, args.runs)
                    ref_ms = baseline.get((title, flip, count))
                    for backend, ms in medians.items():
                        ratio = f"{ref_ms / ms:5.2f}x" if ref_ms else "    -"
                        ref_txt = f"{ref_ms:9.0f}" if ref_ms else f"{'-':>9}"
                        flip_txt = "on" if flip else "off"
                        speedup = medians["eager"] / ms
                        check = checks.get(backend, "reference (unoptimised fp32 torch)")
                        print(
                            f"{key:10} {flip_txt:4} {count:5d} {backend:12} {ms:10.1f} {ref_txt} {ratio:>6} "
                            f"{speedup:7.2f}x  {check}"
                        )
                    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
