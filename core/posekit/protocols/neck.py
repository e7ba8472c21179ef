"""Neck protocol: a tuple of feature maps in, a tuple out."""

from __future__ import annotations

from torch import Tensor, nn


class BaseNeck(nn.Module):
    """Base class of every neck: ``forward(feats: tuple[Tensor, ...]) -> tuple[Tensor, ...]``."""

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        raise NotImplementedError
