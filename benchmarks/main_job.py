"""Re-measure the main job: synthetic data + training + COCO AP, with wall-clock times.

Runs ``posekit data synth`` (unless the data exists) and ``posekit train`` on
``examples/configs/synthetic_rtmpose.yaml`` in fresh processes, then prints the validation
AP after each validation, the total wall time against the 10-minute budget, and where the
training-curve PNG is. Extra arguments go to ``posekit train`` (e.g. ``--set train.epochs=5``).

    python benchmarks/main_job.py [--work-dir DIR] [--set k=v ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "configs" / "synthetic_rtmpose.yaml"
DATA = ROOT / "data" / "synthetic"
BUDGET_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=ROOT / "work_dirs" / "main_job_benchmark")
    args, train_args = parser.parse_known_args()
    start = time.perf_counter()
    if not (DATA / "annotations" / "person_keypoints_val2017.json").is_file():
        subprocess.run([sys.executable, "-m", "posekit", "data", "synth", "--out", str(DATA)], check=True, cwd=ROOT)
    synth_s = time.perf_counter() - start
    shutil.rmtree(args.work_dir, ignore_errors=True)  # a fresh run: train refuses another run's folder
    subprocess.run(
        [sys.executable, "-m", "posekit", "train", str(CONFIG), "--work-dir", str(args.work_dir),
         "--set", "train.progress=false", *train_args],
        check=True, cwd=ROOT,
    )  # fmt: skip
    total_s = time.perf_counter() - start
    vals = []
    for line in (args.work_dir / "scalars.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "coco/AP" in rec:
            vals.append(rec)
    print(f"\nsynthetic data: {synth_s:6.1f} s   total (data + training + validations): {total_s:6.1f} s")
    print(f"budget {BUDGET_S:.0f} s: {'within' if total_s <= BUDGET_S else 'OVER'} ({total_s / BUDGET_S:.0%})")
    for rec in vals:
        ap50 = rec.get("coco/AP .5", float("nan"))
        print(f"  epoch {rec.get('epoch', '?'):>3}  coco/AP {rec['coco/AP']:.4f}  coco/AP .5 {ap50:.4f}")
    if vals:
        print(f"final COCO AP on the synthetic validation split: {vals[-1]['coco/AP']:.4f} (target >= 0.70)")
    print(f"training curves: {args.work_dir / 'curves.png'}")


if __name__ == "__main__":
    main()
