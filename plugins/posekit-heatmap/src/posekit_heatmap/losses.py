"""Heatmap losses: KeypointMSELoss and KeypointOHKMMSELoss (MMPose 1.x).

Dimensions: B samples, K keypoints, heatmaps ``(B, K, H, W)``, keypoint weights ``(B, K)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from posekit.nn import WeightedKeypointLoss


def _check_weights(target: Tensor, target_weights: Tensor) -> None:
    if target_weights.ndim not in (2, 4) or tuple(target_weights.shape) != tuple(target.shape[: target_weights.ndim]):
        raise ValueError(
            f"target_weights: expected shape (B, K) = {tuple(target.shape[:2])} or (B, K, H, W) = "
            f"{tuple(target.shape)}, got {tuple(target_weights.shape)}"
        )


class KeypointMSELoss(WeightedKeypointLoss):
    """Mean squared error between heatmaps, optionally masked.

    The loss is ``mean((output - target) ** 2 * mask) * loss_weight`` over all elements, where the
    mask multiplies the given ``mask``, the ``target_weights`` (whenever they are passed, as in
    MMPose 1.x) and, with ``skip_empty_channel``, zero for target channels with no non-zero value.

    Args:
        use_target_weight: kept for MMPose configs; as in MMPose 1.x, ``target_weights`` passed to
            ``forward`` are always applied. Defaults to False.
        skip_empty_channel: leave target channels without any non-zero value out of the loss.
            Defaults to False.
        loss_weight: factor on the loss. Defaults to 1.0.
    """

    def __init__(
        self, use_target_weight: bool = False, skip_empty_channel: bool = False, loss_weight: float = 1.0
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.skip_empty_channel = skip_empty_channel

    def forward(
        self, output: Tensor, target: Tensor, target_weights: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """Scalar loss.

        Args:
            output: predicted heatmaps ``(B, K, H, W)``.
            target: target heatmaps ``(B, K, H, W)``.
            target_weights: keypoint weights ``(B, K)`` or pixel weights ``(B, K, H, W)``.
            mask: valid pixels ``(B, K, H, W)`` or ``(B, 1, H, W)``.
        """
        if output.shape != target.shape:
            raise ValueError(f"target: expected the shape of output {tuple(output.shape)}, got {tuple(target.shape)}")
        full_mask = self._get_mask(target, target_weights, mask)
        if full_mask is None:
            loss = F.mse_loss(output, target)
        else:
            loss = (F.mse_loss(output, target, reduction="none") * full_mask).mean()
        return loss * self.loss_weight

    def _get_mask(self, target: Tensor, target_weights: Tensor | None, mask: Tensor | None) -> Tensor | None:
        """The product of ``mask``, the weights and the non-empty-channel mask, broadcastable to the target."""
        if mask is not None and (
            mask.ndim != target.ndim or any(m not in (1, t) for m, t in zip(mask.shape, target.shape, strict=True))
        ):
            raise ValueError(f"mask: expected a shape broadcastable to {tuple(target.shape)}, got {tuple(mask.shape)}")
        if target_weights is not None:
            _check_weights(target, target_weights)
            weights = target_weights.view(*target_weights.shape, *(1,) * (target.ndim - target_weights.ndim))
            mask = weights if mask is None else mask * weights
        if self.skip_empty_channel:
            non_empty = (target != 0).flatten(2).any(dim=2)
            non_empty = non_empty.view(*non_empty.shape, *(1,) * (target.ndim - non_empty.ndim))
            mask = non_empty if mask is None else mask * non_empty
        return mask


class KeypointOHKMMSELoss(WeightedKeypointLoss):
    """MSE with online hard keypoint mining: per sample, the mean of the ``topk`` largest keypoint losses.

    A keypoint's loss is the mean over its heatmap of ``(output * w - target * w) ** 2`` (``w`` its
    weight when ``use_target_weight``); the result is averaged over the batch.

    Args:
        use_target_weight: weight each keypoint's heatmaps by its target weight. Defaults to False.
        topk: number of hardest keypoints kept per sample (at most K). Defaults to 8.
        loss_weight: factor on the loss. Defaults to 1.0.
    """

    def __init__(self, use_target_weight: bool = False, topk: int = 8, loss_weight: float = 1.0) -> None:
        super().__init__(use_target_weight, loss_weight)
        if topk <= 0:
            raise ValueError(f"topk must be positive, got {topk}")
        self.topk = topk

    def forward(self, output: Tensor, target: Tensor, target_weights: Tensor | None = None) -> Tensor:
        """Scalar loss.

        Args:
            output: predicted heatmaps ``(B, K, H, W)``.
            target: target heatmaps ``(B, K, H, W)``.
            target_weights: keypoint weights ``(B, K)``; required with ``use_target_weight``.
        """
        if output.shape != target.shape:
            raise ValueError(f"target: expected the shape of output {tuple(output.shape)}, got {tuple(target.shape)}")
        if output.size(1) < self.topk:
            raise ValueError(f"topk ({self.topk}) should not be larger than num_keypoints ({output.size(1)})")
        if self.use_target_weight:
            if target_weights is None:
                raise ValueError("target_weights: required with use_target_weight=True")
            if tuple(target_weights.shape) != tuple(target.shape[:2]):
                raise ValueError(
                    f"target_weights: expected shape (B, K) = {tuple(target.shape[:2])}, "
                    f"got {tuple(target_weights.shape)}"
                )
            weights = target_weights[:, :, None, None]
            output, target = output * weights, target * weights
        losses = F.mse_loss(output, target, reduction="none").mean(dim=(2, 3))  # (B, K)
        hardest = torch.topk(losses, k=self.topk, dim=1, sorted=False).values
        return (hardest.sum(dim=1) / self.topk).mean() * self.loss_weight
