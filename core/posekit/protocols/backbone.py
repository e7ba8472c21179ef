"""Backbone protocol: an image batch in, a tuple of feature maps out."""

from __future__ import annotations

from torch import Tensor, nn


class BaseBackbone(nn.Module):
    """Base class of every backbone.

    ``forward(x)`` takes a batch ``(B, C, H, W)`` (or ``(B, C, T)`` for temporal
    backbones) and returns a tuple of feature maps, one per ``out_indices`` entry,
    coarsest last. ``train(mode)`` honours ``norm_eval``-style freezing in subclasses.
    """

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        raise NotImplementedError
