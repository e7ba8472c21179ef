"""Keypoint weights broadcast against a loss's target (the one helper every loss module here shares)."""

from __future__ import annotations

from torch import Tensor


def expand_weight(name: str, weight: Tensor | None, ndim: int) -> Tensor:
    """``weight`` with trailing unit axes up to ``ndim`` dims, e.g. ``(N, K)`` -> ``(N, K, 1, 1)``.

    Raises ``ValueError`` naming loss ``name`` when the weight is missing or has more dims than the target.
    """
    if weight is None:
        raise ValueError(f"{name}: target weights are required with use_target_weight=True")
    if weight.ndim > ndim:
        raise ValueError(
            f"{name}: target weights of shape {tuple(weight.shape)} have more dims than the target ({ndim})"
        )
    return weight.reshape(*weight.shape, *(1,) * (ndim - weight.ndim))
