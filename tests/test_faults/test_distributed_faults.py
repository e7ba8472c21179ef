"""Issue 17, items 6-8: real ``torchrun`` jobs of two CPU (gloo) processes.

- the shipped RTMPose config (CSPNeXt with an unused last stage, BatchNorm, a loss summed over
  the batch) trains under torchrun, and with ``train.sync_bn`` 2 processes x batch 4 give the
  weights, BN statistics and logged loss of 1 process x batch 8 (SGD, so float noise is not
  amplified by Adam's per-element normalisation of tiny gradients);
- a rank stopped with SIGSTOP ends the job after ``train.dist_timeout``, with a message naming it
  (torchrun then gives the stopped process its 30 s SIGTERM grace before SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

SHIPPED = Path(__file__).resolve().parents[2] / "examples" / "configs" / "synthetic_rtmpose.yaml"
QUICK = ("train.progress=false", "train.retain_host_memory=false", "data.train.num_workers=0", "data.val.num_workers=0")
TORCHRUN = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "posekit")

STOPPER = """
import os
import signal
from pathlib import Path

from posekit import hookimpl


@hookimpl
def after_train_iter(trainer):
    if trainer.rank == 1 and trainer.iteration == 3:
        Path(os.environ["POSEKIT_STOPPED_PID"]).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGSTOP)
"""


def _overrides(*extra: str) -> list[str]:
    out = []
    for item in (*QUICK, *extra):
        out += ["--set", item]
    return out


def test_two_processes_equal_one_on_the_shipped_config(synthetic_root: Path, run_posekit: Callable[..., Any]) -> None:
    common = _overrides(
        "train.max_iters=2", "train.sync_bn=true", "data.train.shuffle=false",
        "optim.optimizer.type=SGD", "optim.optimizer.lr=0.01", "hooks.logger.interval=1",
        "optim.scheduler.warmup_iters=0",
    )  # fmt: skip
    one = run_posekit(
        "train", str(SHIPPED), "--work-dir", "one", *common, "--set", "data.train.batch_size=8", cwd=synthetic_root
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_posekit("train", str(SHIPPED), "--work-dir", "two", *common, "--set", "data.train.batch_size=4",
                  cwd=synthetic_root, launcher=TORCHRUN)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]

    a = torch.load(synthetic_root / "one" / "iter_2.pth", weights_only=True)
    b = torch.load(synthetic_root / "two" / "iter_2.pth", weights_only=True)
    assert b["loop"]["world_size"] == 2 and any("running_var" in k for k in a["state_dict"])
    for key, value in a["state_dict"].items():  # weights and BatchNorm statistics
        torch.testing.assert_close(b["state_dict"][key], value, rtol=1e-5, atol=1e-5, msg=f"{key} differs")
    logs = [
        [json.loads(line) for line in (synthetic_root / w / "scalars.jsonl").read_text().splitlines()]
        for w in ("one", "two")
    ]
    for ra, rb in zip(*logs, strict=True):  # the logged loss is the global batch's, not rank 0's
        assert abs(ra["loss"] - rb["loss"]) <= 1e-5 * abs(ra["loss"])


def test_a_stopped_rank_ends_the_job_within_the_timeout(
    tiny: Any, throwaway: Callable[..., Path], tmp_path: Path
) -> None:
    throwaway(
        "posekit-stopper", {"posekit.hooks": {"stopper": "posekit_stopper"}}, modules={"posekit_stopper": STOPPER}
    )
    cfg = tiny.config(tmp_path / "run", train__epochs=100, train__dist_timeout=4)
    pid_file = tmp_path / "stopped.pid"
    out = tiny.run_cli(
        ["train", str(tiny.write(tmp_path / "cfg.json", cfg))],
        launcher=TORCHRUN, env={"POSEKIT_STOPPED_PID": str(pid_file)},
    )  # fmt: skip
    stopped = int(pid_file.read_text())
    try:
        assert out.returncode != 0
        assert "rank(s) 1 stopped answering" in out.stderr and "train.dist_timeout=4 s" in out.stderr
    finally:
        if Path(f"/proc/{stopped}").exists():
            os.kill(stopped, signal.SIGKILL)
