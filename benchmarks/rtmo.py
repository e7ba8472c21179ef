"""End-to-end RTMO-s latency at 640x640 (whole image in, people out) against MMPose's ``inference_bottomup``.

One run builds RTMO-s from MMPose's own config (``body_2d_keypoint/rtmo/coco/rtmo-s_8xb32-600e_coco-640x640.py``)
with random weights in MMPose 1.3.2's environment (``bash benchmarks/mmpose_env.sh``), saves it as an MMPose
checkpoint, times ``mmpose.apis.inference_bottomup`` there, then loads the same checkpoint into posekit and
times ``posekit.inference_bottomup`` on the same image in this process, then the same model exported with
``posekit_onnx.export.export_onnx`` and served by ``posekit.Inferencer`` on onnxruntime. Every path loads the
image from disk on every call. Prints the medians and the ratios (MMPose / posekit: > 1 is faster). Target:
>= 1.5x on torch, more on onnxruntime.
The weights are MMPose's own initialisation (class scores at the 0.01 prior, under the 0.1 threshold), so
few or no people pass: the figure is the network, the prior decoding and the filtering, not the DCC and NMS
of many people (with untrained weights every prior passes and MMPose's Python NMS loop dominates).

    python benchmarks/rtmo.py [--runs 5] [--mmpose ~/.cache/posekit/mmpose-env/bin/python]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sized
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
CONFIG = "mmpose-configs/body_2d_keypoint/rtmo/coco/rtmo-s_8xb32-600e_coco-640x640.py"
IMAGE = "data/coco/000000197388.jpg"
DEFAULT_MMPOSE = Path.home() / ".cache/posekit/mmpose-env/bin/python"

MMPOSE_SIDE = """
import json, statistics, sys, time
import importlib.machinery
sys.path.insert(0, {bench!r})
import mmpose_worker
mmpose_worker._stand_in_for_compiled_ops()  # mmcv-lite has no compiled ops; RTMO's NMS is pure torch
sys.modules["mmcv._ext"].__spec__ = importlib.machinery.ModuleSpec("mmcv._ext", None)
import site, types  # mmengine looks mmpose's folder up with pkg_resources, absent from this environment
stub = types.ModuleType("pkg_resources")
stub.DistributionNotFound = LookupError
stub.get_distribution = lambda name: types.SimpleNamespace(location=site.getsitepackages()[0])
sys.modules["pkg_resources"] = stub
vision = types.ModuleType("torchvision")  # no CPU torchvision here; only MMPose's SimCC visualizer imports it
vision.transforms = types.ModuleType("torchvision.transforms")
vision.transforms.ToPILImage = object
sys.modules.update({{"torchvision": vision, "torchvision.transforms": vision.transforms}})
import torch
from mmpose.apis import inference_bottomup, init_model
torch.manual_seed(0)
model = init_model({config!r}, None, device="cpu")
model.init_weights()  # MMPose's init: class scores start at the 0.01 prior (under the 0.1 threshold)
torch.save({{"state_dict": model.state_dict(), "meta": {{}}}}, {ckpt!r})
times = []
with torch.no_grad():
    for i in range({runs} + 1):
        t = time.perf_counter()
        out = inference_bottomup(model, {image!r})
        times.append(time.perf_counter() - t)
print(json.dumps({{"median": statistics.median(times[1:]), "people": len(out[0].pred_instances)}}))
"""


def mmpose_latency(python: Path, config: Path, ckpt: Path, image: Path, runs: int) -> dict[str, float]:
    """Median ``inference_bottomup`` seconds in MMPose's environment (it also writes the checkpoint)."""
    bench = str(Path(__file__).parent)
    code = MMPOSE_SIDE.format(bench=bench, config=str(config), ckpt=str(ckpt), image=str(image), runs=runs)
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def posekit_model(config: Path, ckpt: Path, work: Path) -> object:
    """RTMO-s from the same MMPose config, converted whole (``posekit convert mmpose-config``: its test pipeline
    too, ``BottomupResize`` to 640x640 as MMPose's), and the same checkpoint."""
    import posekit
    from posekit.cli import main as posekit_cli

    converted = work / "rtmo-s.yaml"
    if posekit_cli(["convert", "mmpose-config", str(config), "-o", str(converted)]) != 0:
        raise SystemExit(f"{config}: posekit convert failed")
    return posekit.init_model(converted, ckpt)


def median_seconds(call: Callable[[], Sized], runs: int) -> tuple[float, int]:
    """Median seconds of ``call`` over ``runs`` calls after one warm-up, and the people its last call found."""
    import torch

    times = []
    with torch.inference_mode():
        for _ in range(runs + 1):
            t = time.perf_counter()
            people = call()
            times.append(time.perf_counter() - t)
    return statistics.median(times[1:]), len(people)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mmpose", type=Path, default=DEFAULT_MMPOSE, help="Python of MMPose's environment")
    args = parser.parse_args(argv)
    import cv2
    from posekit_onnx.export import export_onnx

    import posekit

    config, image = (SHARED / CONFIG).resolve(), (SHARED / IMAGE).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, onnx_file = Path(tmp) / "rtmo-s.pth", Path(tmp) / "rtmo-s.onnx"
        theirs = mmpose_latency(args.mmpose, config, ckpt, image, args.runs)
        model = posekit_model(config, ckpt, Path(tmp))
        torch_s, torch_people = median_seconds(lambda: posekit.inference_bottomup(model, str(image)), args.runs)
        export_onnx(model, onnx_file)
        served = posekit.Inferencer(None, onnx_file)
        ort_s, ort_people = median_seconds(lambda: served(cv2.imread(str(image))), args.runs)
    print(f"RTMO-s 640x640, {image.name}, random weights, median of {args.runs} (after one warm-up):")
    print(f"  MMPose inference_bottomup   : {theirs['median'] * 1000:8.1f} ms ({theirs['people']} people)")
    print(f"  posekit inference_bottomup  : {torch_s * 1000:8.1f} ms ({torch_people} people)")
    print(f"  posekit onnxruntime         : {ort_s * 1000:8.1f} ms ({ort_people} people)")
    print(f"  ratio MMPose / posekit torch: {theirs['median'] / torch_s:8.2f}x (target >= 1.5)")
    print(f"  ratio MMPose / onnxruntime  : {theirs['median'] / ort_s:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
