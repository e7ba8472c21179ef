"""Pieces of the training loop: seeding, mixed precision and the objective of a loss dict."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch
from torch import Tensor


def seed_everything(seed: int, deterministic: bool) -> Callable[[], None]:
    """Seed python, numpy and torch; ``deterministic``: deterministic algorithms (warn where none exists), no
    cuDNN autotuning. Returns what puts torch's process-wide switches back. Fresh tensors stay unfilled
    (``fill_uninitialized_memory`` off): every kernel here writes its whole output, and filling costs 2-3%."""
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.utils.deterministic.fill_uninitialized_memory,
    )

    def restore() -> None:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[2], previous[3]
        torch.utils.deterministic.fill_uninitialized_memory = previous[4]

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    torch.utils.deterministic.fill_uninitialized_memory = False
    return restore


def autocast(device_type: str, enabled: bool) -> AbstractContextManager[Any]:
    """The mixed-precision context of forward passes: fp16 on CUDA, bf16 on CPU; none unless ``enabled``."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=torch.float16 if device_type == "cuda" else torch.bfloat16)


def parse_losses(losses: Mapping[str, Tensor | list[Tensor]]) -> tuple[Tensor, dict[str, float]]:
    """The objective (sum of the ``loss*`` entries) and every entry as a float (one device sync) of an
    estimator's ``mode="loss"`` output (tensors averaged, lists summed)."""
    values = {
        key: value.mean() if isinstance(value, Tensor) else torch.stack([v.mean() for v in value]).sum()
        for key, value in losses.items()
    }
    keys = [k for k in values if k.startswith("loss")]
    if not keys:
        raise ValueError(f"the model's loss dict has no key starting with 'loss' (got {sorted(values)})")
    loss = torch.stack([values[k] for k in keys]).sum()
    flat = torch.stack([loss.detach().float(), *(v.detach().float() for v in values.values())]).tolist()
    return loss, {"loss": flat[0], **dict(zip(values, flat[1:], strict=True))}
