"""Soak: kill a training run with SIGKILL at random moments, resume it each time, and check nothing is lost.

Trains the shipped ``examples/configs/synthetic_rtmpose.yaml`` on a small synthetic dataset
(one loader worker, a checkpoint every iteration so many kills land inside a save), once
uninterrupted as the reference and once killed ``--kills`` times, each time resumed with
``posekit train --resume``: most kills come 0-3 s after the run began training (its first log
line), some during start-up. Reports:

- whether the latest checkpoint was loadable after every kill;
- whether the final weights equal the uninterrupted run's (max abs difference);
- processes of a killed run still alive a second after the kill (loader workers included);
- ``.tmp`` files left by kills during a save, and how many remain once the run finished.

Not a test (minutes of wall time); run it by hand::

    python benchmarks/soak_kill_resume.py [--kills 50] [--epochs 40] [--max-delay 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "configs" / "synthetic_rtmpose.yaml"
OVERRIDES = (
    "train.progress=false", "train.retain_host_memory=false", "hooks.checkpoint.every_iters=1",
    "hooks.checkpoint.keep_last=2", "hooks.checkpoint.save_best=null", "evaluator=[]", "data.val=null",
    "data.train.batch_size=8",
    "data.train.num_workers=1", "optim.scheduler.warmup_iters=4",
)  # fmt: skip


def _train(work: Path, cwd: Path, resume: bool, epochs: int) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "posekit",
        "train",
        str(CONFIG),
        "--work-dir",
        str(work),
        "--set",
        f"train.epochs={epochs}",
    ]
    for item in OVERRIDES:
        args += ["--set", item]
    if resume:
        args.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def _session_members(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the killed run and anything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _final(work: Path) -> dict[str, torch.Tensor]:
    from posekit.engine.checkpoint import find_latest, load_checkpoint

    path = find_latest(work)
    assert path is not None, f"no checkpoint in {work}"
    return load_checkpoint(path)["state_dict"]


def main() -> None:
    from posekit.engine.checkpoint import find_latest, load_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40, help="epochs of 8 iterations each")
    parser.add_argument("--startup-kills", type=float, default=0.2, help="fraction of kills during start-up")
    parser.add_argument("--min-delay", type=float, default=0.0, help="seconds before the kill (after the start, or")
    parser.add_argument("--max-delay", type=float, default=3.0, help="once training began), drawn uniformly")
    parser.add_argument("--out", type=Path, default=ROOT / "work_dirs" / "soak")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    synth = [sys.executable, "-m", "posekit", "data", "synth", "--out", "data/synthetic", "--num-train", "32",
             "--num-val", "1", "--size", "128x128"]  # fmt: skip
    subprocess.run(synth, cwd=args.out, check=True, stdout=subprocess.DEVNULL)

    start = time.perf_counter()
    ref = _train(args.out / "reference", args.out, False, args.epochs)
    assert ref.wait() == 0, ref.stderr.read().decode() if ref.stderr else ""
    ref_s = time.perf_counter() - start
    print(f"uninterrupted reference run: {ref_s:.1f} s")

    work = args.out / "killed"
    kills = unloadable = leaked = tmp_after_kill = finished_early = 0
    start = time.perf_counter()
    while kills < args.kills:
        log_size = (work / "train.log").stat().st_size if (work / "train.log").is_file() else 0
        proc = _train(work, args.out, True, args.epochs)
        if rng.random() >= args.startup_kills:  # wait until the run trains (it logs its first line)
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline:
                if (work / "train.log").is_file() and (work / "train.log").stat().st_size > log_size:
                    break
                time.sleep(0.05)
        time.sleep(rng.uniform(args.min_delay, args.max_delay))
        if proc.poll() is not None:  # the run ended before the kill: it is complete
            finished_early += 1
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        time.sleep(1.0)
        alive = _session_members(proc.pid)
        leaked += len(alive)
        for pid in alive:  # do not let one leak spoil the next figures
            os.kill(pid, signal.SIGKILL)
        tmp_after_kill += bool(list(work.glob(".*.tmp")))
        latest = find_latest(work)
        if latest is not None:
            try:
                load_checkpoint(latest)
            except Exception as e:
                unloadable += 1
                print(f"kill {kills}: latest checkpoint {latest.name} is unloadable: {e}")
        print(f"kill {kills:3d}: latest {latest.name if latest else '(none yet)'}", flush=True)
    last = _train(work, args.out, True, args.epochs)
    code = last.wait()
    soak_s = time.perf_counter() - start
    leftover = list(work.glob(".*.tmp"))
    a, b = _final(args.out / "reference"), _final(work)
    diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a) if a.keys() == b.keys() else float("inf")
    print()
    print(
        f"kills: {kills} in {soak_s:.0f} s (run finished before a kill: {finished_early}); "
        f"final resume exit code {code}"
    )
    print(f"latest checkpoint unloadable after a kill: {unloadable} of {kills}")
    print(f"processes alive 1 s after a kill (workers included): {leaked}")
    print(f"kills that left a .tmp behind: {tmp_after_kill}; .tmp files left at the end: {len(leftover)}")
    print(
        f"final weights vs uninterrupted run: max abs difference {diff:.3g} "
        f"({'bit-exact' if diff == 0 else 'DIFFERENT'})"
    )


if __name__ == "__main__":
    main()
