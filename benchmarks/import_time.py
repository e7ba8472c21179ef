"""Time of ``import posekit`` plus listing every component, in fresh processes.

Reports the median over several runs minus the bare interpreter's start-up (also a
median, measured interleaved in the same run), beside MMPose's ``import mmpose.models``
figure from ../shared/BASELINES.md. Target: under 0.3 s with every plugin installed.

    python benchmarks/import_time.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

MMPOSE_IMPORT_S = 3.9  # `import mmpose.models`, BASELINES.md

SNIPPET = "import posekit; c = posekit.list_components(); assert sum(map(len, c.values())) > 0"


def _time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    _time(SNIPPET)  # warm the file-system cache
    bare, full = [], []
    for _ in range(args.runs):  # interleaved, so drift hits both alike
        bare.append(_time("pass"))
        full.append(_time(SNIPPET))
    b, f = statistics.median(bare), statistics.median(full)
    import posekit

    n = sum(len(v) for v in posekit.list_components().values())
    print(f"interpreter start-up (median of {args.runs}): {b * 1000:7.1f} ms")
    print(f"import posekit + list {n} components:       {f * 1000:7.1f} ms")
    print(f"posekit's own cost:                          {(f - b) * 1000:7.1f} ms  (target < 300 ms)")
    ratio = MMPOSE_IMPORT_S / (f - b)
    print(f"MMPose `import mmpose.models`:              {MMPOSE_IMPORT_S * 1000:7.0f} ms  -> {ratio:.0f}x")


if __name__ == "__main__":
    main()
