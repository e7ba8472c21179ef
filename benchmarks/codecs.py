"""Codec speed: encode one instance per call (as a data pipeline does), decode batches of 64.

For MSRAHeatmap (192x256 -> 48x64, sigma 2, K=17), the same with DarkPose (``unbiased``),
UDPHeatmap (gaussian), SimCCLabel (RTMPose-m: 192x256, sigma (4.9, 5.66), split 2.0, no
normalization) and RegressionLabel, prints instances/s beside MMPose 1.3.2's figures
(../shared/BASELINES.md, measured on this machine class) and the ratio. Targets: encode >= 5x,
decode >= 3x MMPose.

Encoding cycles through 64 different instances (some keypoints invisible or outside the input);
decoding calls ``batch_decode`` on 64 samples of realistic outputs (targets plus noise). Each
figure is the median of ``--repeats`` rounds; the codecs are interleaved inside every round so
that a machine's drift hits them all alike.

These machines are shared and noisy (BASELINES.md): the script reports the load average, and
before measuring it times a tiny torch op on two threads and on one. When torch's OpenMP threads
landed on one vCPU (each parallel region then costs milliseconds, far more than on one thread),
it starts itself again in a fresh process (at most twice) and says so; treat figures from a run
that still reports it as unreliable.

    python benchmarks/codecs.py [--repeats 7] [--calls 400]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from posekit.registry import build

BATCH = 64
NUM_KEYPOINTS = 17
INPUT_SIZE = (192, 256)
#: a two-thread parallel region normally costs tens of microseconds; the co-located fault costs ~8 ms
PARALLEL_PROBE_LIMIT_S = 1e-3  # and at least 10x the one-thread time
RESTART_ENV = "POSEKIT_BENCH_RESTARTS"
MAX_RESTARTS = 2


@dataclass(frozen=True)
class Case:
    """A codec config and MMPose 1.3.2's instances/s for it (BASELINES.md, codecs table)."""

    title: str
    cfg: dict[str, Any]
    mmpose_encode: float
    mmpose_decode: float
    mmpose_decode_one_call: float | None = None  # MMPose decoding the 64 samples in one call


CASES = (
    Case(
        "MSRAHeatmap",
        {"type": "MSRAHeatmap", "input_size": INPUT_SIZE, "heatmap_size": (48, 64), "sigma": 2.0},
        4300,
        7500,
    ),
    Case(
        "MSRAHeatmap unbiased",
        {"type": "MSRAHeatmap", "input_size": INPUT_SIZE, "heatmap_size": (48, 64), "sigma": 2.0, "unbiased": True},
        4300,
        1200,
    ),
    Case(
        "UDPHeatmap gaussian",
        {"type": "UDPHeatmap", "input_size": INPUT_SIZE, "heatmap_size": (48, 64), "sigma": 2.0},
        3700,
        1600,
    ),
    Case(
        "SimCCLabel",
        {
            "type": "SimCCLabel",
            "input_size": INPUT_SIZE,
            "sigma": (4.9, 5.66),
            "simcc_split_ratio": 2.0,
            "normalize": False,
        },
        4500,
        44000,
        187000,
    ),
    Case("RegressionLabel", {"type": "RegressionLabel", "input_size": INPUT_SIZE}, 87000, 299000),
)


def _instances(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` single instances ``(count, 1, K, 2)`` in input space, with visibilities ``(count, 1, K)``.

    About 10% of the keypoints are invisible and a few fall outside the input, as in COCO crops.
    """
    size = np.array(INPUT_SIZE, np.float32)
    keypoints = (rng.uniform(-0.05, 1.05, (count, 1, NUM_KEYPOINTS, 2)) * size).astype(np.float32)
    visible = (rng.random((count, 1, NUM_KEYPOINTS)) > 0.1).astype(np.float32)
    return keypoints, visible


def _decoder_inputs(codec: Any, keypoints: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """What a head would hand ``batch_decode`` for these instances: encoded targets plus noise."""
    encoded = [codec.encode(k) for k in keypoints]
    if "heatmaps" in encoded[0]:
        heatmaps = np.stack([e["heatmaps"] for e in encoded])
        return (heatmaps + rng.normal(0, 0.02, heatmaps.shape).astype(np.float32),)
    if "keypoint_x_labels" in encoded[0]:
        x = np.concatenate([e["keypoint_x_labels"] for e in encoded])
        y = np.concatenate([e["keypoint_y_labels"] for e in encoded])
        return (
            x + rng.normal(0, 0.02, x.shape).astype(np.float32),
            y + rng.normal(0, 0.02, y.shape).astype(np.float32),
        )
    labels = np.stack([e["keypoint_labels"] for e in encoded])  # (B, 1, K, 2)
    return (labels + rng.normal(0, 0.01, labels.shape).astype(np.float32),)


def _encode_rate(codec: Any, instances: list[tuple[np.ndarray, np.ndarray]], calls: int) -> float:
    """Instances/s of ``codec.encode``, one instance per call, cycling through ``instances``."""
    start = time.perf_counter()
    for keypoints, visible in itertools.islice(itertools.cycle(instances), calls):
        codec.encode(keypoints, visible)
    return calls / (time.perf_counter() - start)


def _decode_rate(codec: Any, batch: tuple[np.ndarray, ...], calls: int) -> float:
    """Instances/s of ``codec.batch_decode`` on a batch of ``BATCH`` samples."""
    start = time.perf_counter()
    for _ in range(calls):
        codec.batch_decode(*batch)
    return calls * BATCH / (time.perf_counter() - start)


def _check_threads() -> str:
    """Restart in a fresh process when torch's OpenMP threads share a vCPU; describe the outcome.

    The fault shows as a two-thread op far slower than the same op on one thread (a busy machine
    slows both alike).
    """
    from _machine import tiny_parallel_op_ms

    one, two = (tiny_parallel_op_ms(threads, numel=1 << 16) / 1e3 for threads in (1, 2))
    restarts = int(os.environ.get(RESTART_ENV, "0"))
    probe = f"parallel probe {two * 1e6:.0f} us on 2 threads, {one * 1e6:.0f} us on 1"
    if two <= max(PARALLEL_PROBE_LIMIT_S, 10 * one):
        return f"{probe} (ok){f' after {restarts} restart(s)' if restarts else ''}"
    if restarts < MAX_RESTARTS:
        print(f"{probe}: the OpenMP threads share a vCPU (or the other one is busy); restarting", flush=True)
        os.environ[RESTART_ENV] = str(restarts + 1)
        os.execv(sys.executable, [sys.executable, *sys.argv])
    return f"{probe} after {restarts} restarts: parallel regions stall; torch timings would be UNRELIABLE"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds; each figure is their median")
    parser.add_argument("--calls", type=int, default=400, help="encode calls per round (decode: calls // 40)")
    args = parser.parse_args(argv)

    print(_check_threads())
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    print(f"load average {load:.2f} on {cpus} CPUs{' (busy machine: figures are pessimistic)' if load > cpus else ''}")

    rng = np.random.default_rng(0)
    keypoints, visible = _instances(rng, BATCH)
    codecs = [build("codec", dict(case.cfg)) for case in CASES]
    inputs = [_decoder_inputs(codec, keypoints, rng) for codec in codecs]
    encode_rates: list[list[float]] = [[] for _ in CASES]
    decode_rates: list[list[float]] = [[] for _ in CASES]
    decode_calls = max(args.calls // 40, 1)
    instances = list(zip(keypoints, visible, strict=True))
    for _ in range(args.repeats + 1):  # the first round warms up and is dropped
        for i, codec in enumerate(codecs):
            encode_rates[i].append(_encode_rate(codec, instances, args.calls))
            decode_rates[i].append(_decode_rate(codec, inputs[i], decode_calls))

    header = f"{'codec':<22}{'encode/s':>10}{'MMPose':>9}{'ratio':>7}   {'decode/s':>10}{'MMPose':>9}{'ratio':>7}"
    print(f"\nmedian of {args.repeats} rounds; targets: encode >= 5x, decode >= 3x MMPose 1.3.2\n{header}")
    for case, enc, dec in zip(CASES, encode_rates, decode_rates, strict=True):
        e, d = statistics.median(enc[1:]), statistics.median(dec[1:])
        line = (
            f"{case.title:<22}{e:>10,.0f}{case.mmpose_encode:>9,.0f}{e / case.mmpose_encode:>6.1f}x   "
            f"{d:>10,.0f}{case.mmpose_decode:>9,.0f}{d / case.mmpose_decode:>6.1f}x"
        )
        one_call = case.mmpose_decode_one_call
        if one_call:
            line += f"   (MMPose in one batched call: {one_call:,.0f}/s, {d / one_call:.1f}x)"
        print(line)


if __name__ == "__main__":
    main()
