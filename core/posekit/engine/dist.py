"""Distributed helpers: process group from ``torchrun``'s environment, rank queries, collectives.

A single process (no ``WORLD_SIZE`` in the environment) never touches ``torch.distributed``.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from posekit.errors import ConfigError


def env_world_size() -> int:
    """``WORLD_SIZE`` as set by ``torchrun`` (1 when run directly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def init_from_env(device: torch.device) -> bool:
    """Join the process group ``torchrun`` describes (gloo on CPU, nccl on CUDA).

    Returns True when this call created the group (the caller destroys it at the end).

    Args:
        device: the device this rank trains on.
    """
    if env_world_size() <= 1 or is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return True


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def resolve_device(name: str) -> torch.device:
    """The device ``train.device`` names (``auto``: this rank's GPU when there is one, else CPU).

    Args:
        name: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank()}"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but CUDA is not available; use 'cpu' or 'auto'")
    return device


def all_reduce_max(value: float, device: torch.device) -> float:
    """The maximum of ``value`` over all ranks (the value itself on one process)."""
    if not is_initialized():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())
