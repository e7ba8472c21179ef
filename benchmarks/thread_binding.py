"""How OpenMP thread binding affects the main job's training step, alone and beside a busy process.

``scripts/main.sh`` exports OpenMP settings before ``posekit train``. This times the main job's
training step (its model, ``examples/configs/synthetic_rtmpose.yaml``, batch 32, as
``train_step.py``'s trainer variant builds it) in fresh child processes under each setting:

- ``unbound``: no ``OMP_PROC_BIND``/``OMP_PLACES`` (the kernel places and migrates the threads);
- ``close/cores``: ``OMP_PROC_BIND=close OMP_PLACES=cores`` (each thread pinned to one core);
- ``... + passive``: either, with ``OMP_WAIT_POLICY=passive`` (threads sleep at barriers, not spin);
- ``... + spin 10k``: either, with ``GOMP_SPINCOUNT=10000`` (torch's libgomp spins about 30x shorter than its
  default 300,000 before sleeping: back-to-back parallel regions still find the threads awake).

each once with the machine otherwise as it is (``quiet``) and once with ``--busy`` processes
spinning beside it (``shared``; one pure-Python loop each, as another job would load a core).
Settings alternate within each round (``--rounds``), so drift hits them alike; each child reports
the median of ``--steps`` steps after two warm-up steps. The table gives the median over rounds
and each setting's slow-down against the quiet unbound step.

    python benchmarks/thread_binding.py [--rounds 3] [--steps 5] [--busy 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {
    "unbound": {},
    "close/cores": {"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"},
    "unbound + passive": {"OMP_WAIT_POLICY": "passive"},
    "close/cores + passive": {"OMP_PROC_BIND": "close", "OMP_PLACES": "cores", "OMP_WAIT_POLICY": "passive"},
    "unbound + spin 10k": {"GOMP_SPINCOUNT": "10000"},
    "close/cores + spin 10k": {"OMP_PROC_BIND": "close", "OMP_PLACES": "cores", "GOMP_SPINCOUNT": "10000"},
}
OMP_KEYS = ("OMP_PROC_BIND", "OMP_PLACES", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def child(steps: int) -> None:
    """Time ``steps`` training steps of the main job's model; print ``{"ms": median}``."""
    import torch
    from train_step import CASES, TRAINER, _estimator, make_batch, variants

    from posekit.engine.host_memory import retain_freed_memory
    from posekit.engine.runtime import seed_everything

    retain_freed_memory()
    seed_everything(0, True)
    case = CASES["main-job"]
    trainee = variants(_estimator(case), False)[TRAINER]()
    batch = make_batch(case.codec, size=case.batch)
    for _ in range(2):
        trainee.step(batch)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainee.step(batch)
        times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"ms": statistics.median(times), "threads": torch.get_num_threads()}))


def run_child(setting: dict[str, str], steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in OMP_KEYS}
    env.update(setting)
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", "--steps", str(steps)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"child under {setting} failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["ms"])


def measure(rounds: int, steps: int, busy: int) -> dict[str, list[float]]:
    """Per setting, the child's median step ms of each round (``busy`` spinning processes beside it)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        found: dict[str, list[float]] = {name: [] for name in SETTINGS}
        for _ in range(rounds):
            for name, setting in SETTINGS.items():
                found[name].append(run_child(setting, steps))
        return found
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per child (median)")
    parser.add_argument("--busy", type=int, default=1, help="spinning processes beside the step in the shared case")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.steps)
        return
    print(f"{os.cpu_count()} CPUs; main job's training step (batch 32), median ms over {args.rounds} rounds")
    quiet = measure(args.rounds, args.steps, 0)
    shared = measure(args.rounds, args.steps, args.busy)
    base = statistics.median(quiet["unbound"])
    print(f"  {'setting':<24}{'quiet ms':>10}{'vs unbound':>11}{f'+{args.busy} busy ms':>14}{'slow-down':>10}")
    for name in SETTINGS:
        q, s = statistics.median(quiet[name]), statistics.median(shared[name])
        print(f"  {name:<24}{q:10.0f}{base / q:10.2f}x{s:14.0f}{s / base:9.2f}x")
    print("  (vs unbound: > 1 is faster than the quiet unbound step; slow-down: shared step / quiet unbound step)")


if __name__ == "__main__":
    main()
