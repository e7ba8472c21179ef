"""The trainer tests' kit: ``posekit-tiny``, a throw-away distribution with a tiny estimator,
dataset, metric and hook plugin, and the ``tiny`` fixture that puts it on ``sys.path``.

``posekit-tiny`` is a real ``*.dist-info`` on a temporary ``sys.path`` entry, so the trainer
finds its components and hooks through entry points exactly as it finds an installed
plugin's; subprocesses get the folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

TINY_MODULE = '''
"""posekit-tiny: a linear keypoint regressor on synthetic vectors, for the trainer's tests."""
from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from posekit.estimators.data_preprocessor import PoseDataPreprocessor
from posekit.protocols import BasePoseEstimator
from posekit.structures import PoseResult, PoseSample
from posekit.transforms.rng import sample_rng

LOADED: list[int] = []  # one entry per dataset built (a broken config must build none)


class TinyEstimator(BasePoseEstimator):
    def __init__(self, in_dim: int = 6, num_keypoints: int = 2, hidden: int = 16, dropout: float = 0.0,
                 norm: bool = True) -> None:
        super().__init__()
        self.data_preprocessor = PoseDataPreprocessor()
        layers = [nn.Linear(in_dim, hidden)] + ([nn.LayerNorm(hidden)] if norm else [])
        self.net = nn.Sequential(*layers, nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_keypoints * 2))
        self.k = num_keypoints

    def _forward(self, inputs):
        return self.net(inputs).view(len(inputs), self.k, 2)

    def loss(self, inputs, batch):
        err = (self._forward(inputs) - batch.targets["keypoints"].float()).pow(2)
        return {"loss_kpt": err.mean(), "acc_pose": (err.sum(-1).sqrt() < 0.5).float().mean()}

    def predict(self, inputs, batch):
        pred = self._forward(inputs).float().cpu().numpy()
        return [
            PoseResult(keypoints=pred[i : i + 1], keypoint_scores=np.ones((1, self.k), np.float32),
                       bboxes=np.zeros((1, 4), np.float32), bbox_scores=np.ones(1, np.float32), sample=s)
            for i, s in enumerate(batch.samples)
        ]


class TinyDataset(Dataset):
    def __init__(self, num_samples: int = 24, in_dim: int = 6, num_keypoints: int = 2, noise: float = 0.1,
                 nan_index: int | None = None, seed: int | None = None) -> None:
        LOADED.append(num_samples)
        g = np.random.default_rng(0)
        w = g.standard_normal((in_dim, num_keypoints * 2)).astype(np.float32) / in_dim**0.5
        self.x = g.standard_normal((num_samples, in_dim)).astype(np.float32)
        self.y = (self.x @ w).reshape(num_samples, num_keypoints, 2)
        self.noise, self.nan_index, self.seed, self.epoch = noise, nan_index, seed, 0
        self.metainfo = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: int) -> PoseSample:
        rng = sample_rng(self.seed if self.seed is not None else 0, self.epoch, idx)
        x = self.x[idx] + self.noise * rng.standard_normal(self.x.shape[1]).astype(np.float32)
        if idx == self.nan_index:
            x = np.full_like(x, np.nan)
        k = self.y.shape[1]
        return PoseSample(img_id=idx, id=idx, keypoints=self.y[idx][None].copy(),
                          keypoints_visible=np.ones((1, k), np.float32),
                          targets={"keypoints": self.y[idx].copy()}, inputs=torch.from_numpy(x))


class TinyMetric:
    def __init__(self, prefix: str = "tiny") -> None:
        self.prefix = prefix
        self.errors: list[float] = []
        self.dataset_meta = None

    def process(self, results) -> None:
        self.errors += [float(np.abs(r.keypoints - r.sample.keypoints).mean()) for r in results]

    def evaluate(self) -> dict[str, float]:
        errors, self.errors = self.errors, []
        if dist.is_available() and dist.is_initialized():
            parts = [None] * dist.get_world_size()
            dist.all_gather_object(parts, errors)
            errors = [e for p in parts for e in p]
        mae = float(np.mean(errors))
        return {f"{self.prefix}/mae": mae, f"{self.prefix}/score": -mae}
'''

HOOKS_MODULE = '''
"""posekit-tiny's hook plugin: records every hook call; kills the process at an iteration."""
import os
import signal

from posekit import hookimpl

CALLS: list[tuple] = []
ROWS: list[dict] = []  # the log_scalars rows, apart: CALLS is the lifecycle's order


@hookimpl
def before_run(trainer):
    CALLS.append(("before_run",))


@hookimpl
def after_run(trainer):
    CALLS.append(("after_run", trainer.stop_reason is None))


@hookimpl
def before_train_epoch(trainer, epoch):
    CALLS.append(("before_train_epoch", epoch))


@hookimpl
def after_train_epoch(trainer, epoch):
    CALLS.append(("after_train_epoch", epoch))


@hookimpl
def before_train_iter(trainer, batch_idx, batch):
    CALLS.append(("before_train_iter", batch_idx, len(batch)))


@hookimpl
def after_train_iter(trainer, batch_idx, outputs):
    CALLS.append(("after_train_iter", trainer.iteration, sorted(outputs)))
    if os.environ.get("POSEKIT_TINY_KILL_AT") == str(trainer.iteration):
        os.kill(os.getpid(), signal.SIGKILL)


@hookimpl
def before_val(trainer, epoch):
    CALLS.append(("before_val", epoch))


@hookimpl
def after_val(trainer, epoch, metrics):
    CALLS.append(("after_val", epoch, sorted(metrics)))


@hookimpl
def on_save_checkpoint(trainer, checkpoint):
    CALLS.append(("on_save_checkpoint", trainer.iteration))
    checkpoint["tiny"] = {"iteration": trainer.iteration}


@hookimpl
def on_load_checkpoint(trainer, checkpoint):
    CALLS.append(("on_load_checkpoint", checkpoint["tiny"]["iteration"]))


@hookimpl
def log_scalars(trainer, row):
    ROWS.append(dict(row))
'''

ENTRY_POINTS = {
    "posekit.estimators": {"TinyEstimator": "posekit_tiny:TinyEstimator"},
    "posekit.datasets": {"TinyDataset": "posekit_tiny:TinyDataset"},
    "posekit.metrics": {"TinyMetric": "posekit_tiny:TinyMetric"},
    "posekit.hooks": {"tiny_recorder": "posekit_tiny_hooks"},
}


@dataclass
class TinyKit:
    """Helpers bound to the ``posekit-tiny`` site folder ``site``."""

    site: Path

    @staticmethod
    def config(work_dir: Path, **sections: Any) -> dict[str, Any]:
        """A valid experiment: 24 training vectors in batches of 4, 2 epochs, validation each epoch.

        ``sections`` replace top-level sections (``train={...}``) or, with ``__``, one field
        (``train__epochs=1``).
        """
        cfg: dict[str, Any] = {
            "model": {"type": "TinyEstimator"},
            "data": {
                "train": {"dataset": {"type": "TinyDataset"}, "batch_size": 4, "num_workers": 0},
                "val": {
                    "dataset": {"type": "TinyDataset", "num_samples": 8, "noise": 0.0},
                    "batch_size": 4,
                    "num_workers": 0,
                },
            },
            "evaluator": [{"type": "TinyMetric"}],
            "optim": {"optimizer": {"type": "AdamW", "lr": 0.01, "weight_decay": 0.01}},
            "train": {"epochs": 2, "progress": False},
            "hooks": {"checkpoint": {"save_best": "tiny/score"}, "logger": {"interval": 2}},
            "work_dir": str(work_dir),
        }
        for key, value in sections.items():
            node = cfg
            *parents, last = key.split("__")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = copy.deepcopy(value)
        return cfg

    @staticmethod
    def write(path: Path, cfg: dict[str, Any]) -> Path:
        """``cfg`` as a JSON config file."""
        path.write_text(json.dumps(cfg))
        return path

    @staticmethod
    def train(cfg: dict[str, Any], **kwargs: Any) -> Any:
        """Train in this process; returns the trainer."""
        from posekit.config import load_config
        from posekit.engine import Trainer

        trainer = Trainer(load_config(cfg), **kwargs)
        trainer.fit()
        return trainer

    def run_cli(
        self, args: list[str], env: dict[str, str] | None = None, launcher: tuple[str, ...] = ("-m", "posekit")
    ) -> subprocess.CompletedProcess[str]:
        """``python LAUNCHER ARGS`` with the site on ``PYTHONPATH`` and one thread per process."""
        full_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.site), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            **(env or {}),
        }
        return subprocess.run(
            [sys.executable, *launcher, *args], env=full_env, capture_output=True, text=True, timeout=600
        )

    @staticmethod
    def load(path: Path) -> dict[str, Any]:
        """A checkpoint, loaded as the trainer loads one."""
        return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture
def tiny(throwaway: Callable[..., Path]) -> Iterator[TinyKit]:
    """The ``posekit-tiny`` distribution on ``sys.path`` (removed afterwards) and its helpers."""
    root = throwaway(
        "posekit-tiny", ENTRY_POINTS, modules={"posekit_tiny": TINY_MODULE, "posekit_tiny_hooks": HOOKS_MODULE}
    )
    yield TinyKit(root)
