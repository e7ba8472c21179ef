"""Evaluation time of CocoMetric (COCO keypoint AP) and PCKAccuracy on synthetic predictions.

    python benchmarks/metrics.py [--instances 5000] [--images 1000] [--repeat 3]

Ground truth: ``--images`` images with ``--instances / --images`` people each (COCO-17,
random poses); predictions: every person jittered by a few pixels, one result per person as a
top-down model gives. Timed: ``process`` of all results plus ``evaluate`` (CocoMetric: rescoring,
OKS-NMS, results file, pycocotools evaluation), and ``evaluate_results_file`` on the written
file (pycocotools alone). Also a run at the size of the MMPose baseline (3,000 predictions over
1,000 images). Medians of ``--repeat`` runs; the machines are shared, so figures are indicative.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from posekit_datasets.coco_metric import CocoMetric  # posekit-datasets
from posekit_datasets.coco_results import evaluate_results_file
from posekit_datasets.keypoint_metrics import PCKAccuracy

from posekit.structures import PoseResult, PoseSample

COCO_SIGMAS = tuple(
    (
        np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89])
        / 10
    ).tolist()
)
K = len(COCO_SIGMAS)
#: BASELINES.md, "COCO keypoint evaluation" (3,000 predictions over 1,000 images)
MMPOSE_COCO_METRIC_S = 1.4
PYCOCOTOOLS_S = 0.8


def synthetic(num_instances: int, num_images: int, seed: int = 0) -> tuple[dict, list[PoseResult]]:
    """A COCO ground-truth dict and one top-down PoseResult per person."""
    rng = np.random.default_rng(seed)
    per_image = -(-num_instances // num_images)
    images, annotations, results = [], [], []
    for img_id in range(1, num_images + 1):
        images.append({"id": img_id, "width": 640, "height": 480, "file_name": f"{img_id:012d}.jpg"})
        for _ in range(min(per_image, num_instances - len(annotations))):
            center = rng.uniform((100, 100), (540, 380))
            size = rng.uniform(40, 160)
            kpts = center + rng.normal(0, size / 3, size=(K, 2))
            x0, y0 = kpts.min(axis=0)
            x1, y1 = kpts.max(axis=0)
            ann_id = len(annotations) + 1
            visible = rng.uniform(size=K) > 0.2
            triplets = np.concatenate([kpts, np.where(visible, 2, 0)[:, None]], axis=1)
            annotations.append(
                {
                    "id": ann_id,
                    "image_id": img_id,
                    "category_id": 1,
                    "iscrowd": 0,
                    "keypoints": triplets.ravel().tolist(),
                    "num_keypoints": int(visible.sum()),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                }
            )
            box = np.array([[x0, y0, x1, y1]], np.float32)
            sample = PoseSample(
                img_id=img_id,
                id=ann_id,
                bbox=box,
                bbox_scale=np.array([[x1 - x0, y1 - y0]], np.float32) * 1.25,
                keypoints=kpts[None].astype(np.float32),
                keypoints_visible=visible[None].astype(np.float32),
            )
            pred = (kpts + rng.normal(0, size / 30, size=(K, 2)))[None].astype(np.float32)
            scores = rng.uniform(0.1, 1.0, size=(1, K)).astype(np.float32)
            results.append(PoseResult(pred, scores, box, np.ones(1, np.float32), sample))
    gt = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    return gt, results


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def bench(num_instances: int, num_images: int, repeat: int, tmp: Path) -> None:
    gt, results = synthetic(num_instances, num_images)
    ann_file = tmp / f"gt_{num_instances}.json"
    ann_file.write_text(json.dumps(gt))
    prefix = tmp / f"results_{num_instances}"

    def coco() -> dict[str, float]:
        metric = CocoMetric(ann_file=str(ann_file), sigmas=COCO_SIGMAS, outfile_prefix=str(prefix))
        metric.process(results)
        return metric.evaluate()

    def results_file() -> dict[str, float]:
        return evaluate_results_file(f"{prefix}.keypoints.json", ann_file)

    def pck() -> dict[str, float]:
        metric = PCKAccuracy(thr=0.05)
        metric.process(results)
        return metric.evaluate()

    t_coco, stats = median_time(coco, repeat)
    t_file, _ = median_time(results_file, repeat)
    t_pck, pck_out = median_time(pck, repeat)
    print(f"{num_instances} instances over {num_images} images:")
    print(f"  CocoMetric process+evaluate (rescore, OKS-NMS, file, AP): {t_coco:6.2f} s   AP {stats['coco/AP']:.3f}")
    print(f"  evaluate_results_file (pycocotools on the written file):   {t_file:6.2f} s")
    print(f"  PCKAccuracy process+evaluate:                              {t_pck:6.3f} s   PCK {pck_out['PCK']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"MMPose 1.3.2 (BASELINES.md, 3,000 predictions over 1,000 images): CocoMetric {MMPOSE_COCO_METRIC_S} s, "
        f"pycocotools {PYCOCOTOOLS_S} s; no MMPose PCK figure is recorded."
    )
    with tempfile.TemporaryDirectory() as tmp:
        bench(args.instances, args.images, args.repeat, Path(tmp))
        bench(3000, 1000, args.repeat, Path(tmp))


if __name__ == "__main__":
    main()
