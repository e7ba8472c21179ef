"""Distributed helpers (process group from ``torchrun``'s environment, ranks, collectives); one process
never touches ``torch.distributed``. N processes of batch B/N train as one of batch B: a loss summed over
its batch (``batch_reduction = "sum"``, MMPose's ``KLDiscretLoss``) is scaled by N under DDP's mean."""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from posekit.errors import ConfigError, PosekitError


class DistributedTimeoutError(PosekitError, RuntimeError):
    """A collective did not complete within ``train.dist_timeout``: a rank stopped or died."""


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def init_from_env(device: torch.device, timeout: float | None = None) -> bool:
    """Join ``torchrun``'s process group (gloo on CPU, nccl on CUDA); True when this call created it.

    Args:
        timeout: seconds a collective may wait for the other ranks (None: torch's default).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_initialized():  # torchrun's; 1 when run directly
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    wait = datetime.timedelta(seconds=timeout) if timeout is not None else None
    dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None, timeout=wait)
    return True


def leave_group() -> None:
    """Destroy the process group, then hand gloo's worker threads the GIL for a moment. torch 2.13 keeps the
    group's threads after the destroy; one that frees its last collective (which needs the GIL) as the
    interpreter exits aborts the process: ``terminate called without an active exception``, 1 run in 15."""
    dist.destroy_process_group()
    time.sleep(0.05)


def resolve_device(name: str, where: str = "train.device") -> torch.device:
    """The device ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``; option ``where``) names; ``cuda``: this rank's."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"{where}={name!r} is not a device; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{where}={name!r} but CUDA is not available; use 'cpu' or 'auto'")
    return device


def all_reduce_max(value: float, device: torch.device) -> float:
    """The maximum of ``value`` over all ranks (the value itself on one process)."""
    if not is_initialized():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def reduce_scalars(
    values: dict[str, float], device: torch.device, sums: frozenset[str] = frozenset()
) -> dict[str, float]:
    """``values`` (the same keys on every rank) reduced over ranks in one collective: the mean, or the sum
    for keys in ``sums``; NaN/inf on any rank stays NaN/inf."""
    if not is_initialized() or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    n = get_world_size()
    return {k: v if k in sums else v / n for k, v in zip(values, t.tolist(), strict=True)}


def stalled_ranks(wait: float) -> list[int]:
    """Ranks that do not write their key in the rendezvous store within ``wait`` seconds (stopped or dead;
    called by every rank whose collective timed out); empty when unknown."""
    try:
        store = dist.distributed_c10d._get_default_store()
        rank, n = get_rank(), get_world_size()
        store.set(f"posekit/alive/{rank}", "1")
        deadline = time.monotonic() + wait
        missing = list(range(n))
        while missing and time.monotonic() < deadline:
            missing = [r for r in missing if not store.check([f"posekit/alive/{r}"])]
            time.sleep(0.1)
        return missing
    except Exception:  # the store itself may be gone with the stopped rank
        return []


class _SumOverRanks(torch.autograd.Function):
    """``all_reduce(SUM)`` with a gradient: the gradient of a sum over ranks is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx: Any, t: Tensor) -> Tensor:
        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class _GlooSyncBatchNorm(_BatchNorm):
    """BatchNorm over the global batch on CPU (gloo), where torch's SyncBatchNorm refuses to run; plain
    ``BatchNorm`` in eval or on one process. Input: ``(N, C, ...)``."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, ...), got {input.dim()}D")

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and is_initialized() and get_world_size() > 1):
            return super().forward(input)
        all_reduce = _SumOverRanks.apply
        self._check_input_dim(input)
        dims = [0, *range(2, input.dim())]
        shape = [1, -1] + [1] * (input.dim() - 2)
        count = all_reduce(input.new_tensor([float(input.numel() // input.size(1))]))
        mean = all_reduce(input.sum(dims)) / count
        var = all_reduce((input - mean.view(shape)).pow(2).sum(dims)) / count
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            assert self.num_batches_tracked is not None
            self.num_batches_tracked.add_(1)
            m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            with torch.no_grad():
                unbiased = var * (count / (count - 1).clamp(min=1))
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.detach(), alpha=m)
        out = (input - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of ``model`` synchronised over the ranks (torch's on CUDA, gloo's on CPU); same keys."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for m in model.modules():
        if isinstance(m, _BatchNorm) and not isinstance(m, nn.SyncBatchNorm):
            m.__class__ = _GlooSyncBatchNorm
    return model
