"""Top-down training data pipeline throughput (instances/s, one process), against MMPose.

    python benchmarks/data_pipeline.py [--seconds 5] [--synthetic 300] [--cv2-threads N]

The pipeline of MMPose's COCO top-down configs: LoadImage, GetBBoxCenterScale,
RandomFlip, RandomHalfBody, RandomBBoxTransform, TopdownAffine (192 x 256),
GenerateTarget (MSRAHeatmap, 48 x 64, sigma 2), PackPoseInputs; samples come from
``CocoDataset`` (``dataset[i]``: a fresh copy of the annotation, then the pipeline), over
the instances of ``shared/data/coco/test_coco.json`` (real JPEGs, 500-640 px) and over a
synthetic dataset written by ``posekit data synth`` (256 x 256 JPEGs). Each run loops
over the dataset for ``--seconds``; the median of three runs is printed beside MMPose's
245 instances/s on the same pipeline (BASELINES.md) with the ratio, and a per-transform
breakdown. The machines are shared: figures are indicative.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict

import cv2
from posekit_datasets.coco import CocoDataset  # posekit-datasets
from posekit_testing.configs import topdown_pipeline
from posekit_testing.conformance import shared_dir

from posekit.registry import get
from posekit.structures import PoseSample

#: BASELINES.md, "Data pipeline": MMPose 1.3.2, the same pipeline over test_coco.json
MMPOSE_INSTANCES_PER_S = 245.0
PIPELINE = topdown_pipeline(
    (192, 256),
    {"type": "MSRAHeatmap", "input_size": (192, 256), "heatmap_size": (48, 64), "sigma": 2.0},
    augment=True,
    half_body=True,
)


class _Timed:
    """Wrap a transform and add its time to ``totals[name]``."""

    def __init__(self, transform: object, totals: dict[str, float]) -> None:
        self.transform = transform
        self.name = type(transform).__name__
        self.totals = totals

    def __call__(self, sample: PoseSample) -> PoseSample:
        t = time.perf_counter()
        out = self.transform(sample)  # type: ignore[operator]
        self.totals[self.name] += time.perf_counter() - t
        return out


def throughput(ds: CocoDataset, seconds: float) -> tuple[float, float]:
    """Instances per wall-clock second and per CPU second of ``ds[i]``, looping for ``seconds``.

    On a shared machine the CPU-time rate (this process's CPU time, all threads) is the
    steadier figure; on an idle one both agree when OpenCV runs on one thread.
    """
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        ds.set_epoch(n // len(ds))
        ds[n % len(ds)]
        n += 1
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu)


def breakdown(ds: CocoDataset, count: int) -> dict[str, float]:
    """Milliseconds per instance of each transform (and of the dataset's copy) over ``count`` samples."""
    totals: dict[str, float] = defaultdict(float)
    pipeline = ds.pipeline
    ds.pipeline = [_Timed(t, totals) for t in pipeline]
    try:
        start = time.perf_counter()
        for i in range(count):
            ds[i % len(ds)]
        total = time.perf_counter() - start
    finally:
        ds.pipeline = pipeline
    out = {name: 1e3 * t / count for name, t in totals.items()}
    out["(copy of the annotation)"] = 1e3 * total / count - sum(out.values())
    return out


def report(title: str, ds: CocoDataset, seconds: float) -> None:
    throughput(ds, min(1.0, seconds))  # warm up
    runs = [throughput(ds, seconds) for _ in range(3)]
    rate = statistics.median(r[0] for r in runs)
    cpu_rate = statistics.median(r[1] for r in runs)
    ratio, cpu_ratio = rate / MMPOSE_INSTANCES_PER_S, cpu_rate / MMPOSE_INSTANCES_PER_S
    print(f"\n{title}: {len(ds)} instances")
    print(
        f"  posekit {rate:7.0f} instances/s ({1e3 / rate:.2f} ms each; runs {', '.join(f'{r:.0f}' for r, _ in runs)})"
    )
    print(f"          {cpu_rate:7.0f} instances per CPU second ({1e3 / cpu_rate:.2f} ms of CPU each)")
    print(f"  MMPose  {MMPOSE_INSTANCES_PER_S:7.0f} instances/s (BASELINES.md, test_coco.json, idle machine)")
    print(f"  ratio   {ratio:7.2f}x wall clock, {cpu_ratio:.2f}x CPU time")
    for name, ms in breakdown(ds, max(200, 3 * len(ds))).items():
        print(f"    {name:<26} {ms:6.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed run")
    parser.add_argument("--synthetic", type=int, default=300, help="synthetic images to generate (0: skip)")
    parser.add_argument("--cv2-threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's)")
    args = parser.parse_args()
    if args.cv2_threads is not None:
        cv2.setNumThreads(args.cv2_threads)
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} thread(s)")
    shared = shared_dir()
    if shared is not None:
        coco = CocoDataset(
            ann_file=str(shared / "data/coco/test_coco.json"),
            data_prefix={"img": str(shared / "data/coco")},
            pipeline=PIPELINE,
            seed=0,
        )
        report("COCO sample images (shared/data/coco/test_coco.json)", coco, args.seconds)
    else:
        print("shared/ not found: skipping the COCO sample images (set POSEKIT_SHARED)")
    if args.synthetic:
        with tempfile.TemporaryDirectory() as tmp:
            get("synthesizer", "coco")(tmp, num_train=args.synthetic, num_val=0, seed=0)  # posekit-synthetic
            synth = CocoDataset(
                ann_file="annotations/person_keypoints_train2017.json",
                data_root=tmp,
                data_prefix={"img": "train2017/"},
                pipeline=PIPELINE,
                seed=0,
            )
            report(f"synthetic figures ({args.synthetic} images, 256 x 256, posekit data synth)", synth, args.seconds)


if __name__ == "__main__":
    main()
