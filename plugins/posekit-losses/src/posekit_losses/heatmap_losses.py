"""Heatmap losses of MMPose 1.x: CombinedTargetMSELoss, AdaptiveWingLoss, FocalHeatmapLoss, MLECCLoss.

Dimensions: B samples, K keypoints, heatmaps ``(B, K, H, W)``, keypoint weights ``(B, K)``
(or pixel weights ``(B, K, H, W)`` where stated).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from posekit.nn import WeightedKeypointLoss
from posekit_losses._weights import expand_weight

Reduction = Literal["mean", "sum", "none"]


class CombinedTargetMSELoss(WeightedKeypointLoss):
    """MSE on UDP's combined targets: per keypoint a response map and x/y offset maps (``C = 3K`` channels).

    The loss is ``0.5 * (mse(response) + mse(gt_response * offset_x) + mse(gt_response * offset_y))``,
    means over samples, keypoints and pixels (Huang et al., CVPR 2020); with ``use_target_weight`` the
    responses, and so the offsets' masks, are weighted.

    Args:
        use_target_weight: multiply the response maps by the keypoint weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(self, use_target_weight: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__(use_target_weight, loss_weight)

    def forward(self, output: Tensor, target: Tensor, target_weights: Tensor | None = None) -> Tensor:
        """Scalar loss of ``output (B, 3K, H, W)`` against ``target (B, 3K, H, W)``; weights ``(B, K)``."""
        b, c = output.shape[:2]
        if c % 3 or target.shape != output.shape:
            raise ValueError(
                f"CombinedTargetMSELoss: output and target must share a shape (B, 3K, H, W), got "
                f"{tuple(output.shape)} and {tuple(target.shape)}"
            )
        pred, gt = output.reshape(b, c // 3, 3, -1), target.reshape(b, c // 3, 3, -1)
        pred_hm, gt_hm = pred[:, :, 0], gt[:, :, 0]
        if self.use_target_weight:
            weight = expand_weight("CombinedTargetMSELoss", target_weights, 3)
            pred_hm, gt_hm = pred_hm * weight, gt_hm * weight
        loss = F.mse_loss(pred_hm, gt_hm)
        for axis in (1, 2):
            loss = loss + F.mse_loss(gt_hm * pred[:, :, axis], gt_hm * gt[:, :, axis])
        return 0.5 * loss * self.loss_weight


class AdaptiveWingLoss(WeightedKeypointLoss):
    """Adaptive Wing loss for heatmap regression (Wang et al., ICCV 2019), averaged over all pixels.

    Args:
        alpha: exponent base; the exponent is ``alpha - target``. Default 2.1.
        omega: scale of the non-linear part. Default 14.
        epsilon: curvature. Default 1.
        theta: where the loss turns linear. Default 0.5.
        use_target_weight: multiply predictions and targets by the keypoint weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(
        self,
        alpha: float = 2.1,
        omega: float = 14.0,
        epsilon: float = 1.0,
        theta: float = 0.5,
        use_target_weight: bool = False,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.alpha, self.omega, self.epsilon, self.theta = float(alpha), float(omega), float(epsilon), float(theta)

    def criterion(self, pred: Tensor, target: Tensor) -> Tensor:
        """Mean adaptive-wing loss of ``pred (B, K, H, W)`` against ``target (B, K, H, W)``."""
        delta = (target - pred).abs()
        power = self.alpha - target
        ratio = torch.pow(self.theta / self.epsilon, power)
        slope = self.omega / (1 + ratio) * power * torch.pow(self.theta / self.epsilon, power - 1) / self.epsilon
        offset = self.theta * slope - self.omega * torch.log1p(ratio)
        small = self.omega * torch.log1p(torch.pow(delta / self.epsilon, power))
        return torch.where(delta < self.theta, small, slope * delta - offset).mean()

    def forward(self, output: Tensor, target: Tensor, target_weights: Tensor | None = None) -> Tensor:
        """Scalar loss; ``target_weights`` ``(B, K)`` or ``(B, K, H, W)``."""
        if self.use_target_weight:
            weight = expand_weight("AdaptiveWingLoss", target_weights, target.ndim)
            output, target = output * weight, target * weight
        return self.criterion(output, target) * self.loss_weight


class FocalHeatmapLoss(WeightedKeypointLoss):
    """CornerNet's modified focal loss on heatmaps of probabilities (`CornerNet <https://arxiv.org/abs/1808.01244>`__).

    Pixels where the target is 1 are positives; the rest are negatives down-weighted by
    ``(1 - target) ** beta``; the sum is divided by the number of positives (if any).

    Args:
        alpha: focusing exponent on the prediction. Default 2.
        beta: exponent of the negatives' down-weighting. Default 4.
        use_target_weight: kept for MMPose configs; as in MMPose, weights passed to ``forward`` always apply.
            Default False.
        skip_empty_channel: leave target channels without a non-zero value out. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(
        self,
        alpha: int = 2,
        beta: int = 4,
        use_target_weight: bool = False,
        skip_empty_channel: bool = False,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.alpha, self.beta = alpha, beta
        self.skip_empty_channel = skip_empty_channel

    def forward(
        self, output: Tensor, target: Tensor, target_weights: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """Scalar loss of ``output (B, K, H, W)`` (probabilities) against ``target (B, K, H, W)``.

        Args:
            output: predicted heatmaps in (0, 1).
            target: target heatmaps in [0, 1].
            target_weights: keypoint weights ``(B, K)`` or pixel weights ``(B, K, H, W)``.
            mask: valid pixels ``(B, K, H, W)`` or ``(B, 1, H, W)``.
        """
        pos = target.eq(1).to(output.dtype)
        neg = target.lt(1).to(output.dtype)
        factors = [] if mask is None else [mask]
        if target_weights is not None:
            factors.append(expand_weight("FocalHeatmapLoss", target_weights, target.ndim))
        if self.skip_empty_channel:
            factors.append((target != 0).flatten(2).any(dim=2)[..., None, None].to(output.dtype))
        for factor in factors:
            pos, neg = pos * factor, neg * factor
        pos_loss = torch.log(output) * torch.pow(1 - output, self.alpha) * pos
        neg_loss = torch.log(1 - output) * torch.pow(output, self.alpha) * torch.pow(1 - target, self.beta) * neg
        num_pos = pos.sum()
        loss = -neg_loss.sum() if num_pos == 0 else -(pos_loss.sum() + neg_loss.sum()) / num_pos
        return loss * self.loss_weight


class MLECCLoss(WeightedKeypointLoss):
    """Maximum-likelihood loss for coordinate classification (RTMW's SimCC heads).

    The likelihood of a keypoint is the product over axes of ``sum(output * target)`` along the bins.

    Args:
        reduction: ``'mean'`` or ``'sum'`` over keypoints (a ``(N,)`` loss per sample), or ``'none'`` ``(N, K)``.
            Default ``'mean'``.
        mode: ``'linear'`` ``1 - p``, ``'square'`` ``1 - p**2`` or ``'log'`` ``-log(p + 1e-4)``. Default ``'log'``.
        use_target_weight: multiply the loss by the keypoint weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(
        self,
        reduction: Reduction = "mean",
        mode: Literal["linear", "square", "log"] = "log",
        use_target_weight: bool = False,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.reduction = reduction
        self.mode = mode

    def forward(
        self,
        outputs: list[Tensor] | tuple[Tensor, ...],
        targets: list[Tensor] | tuple[Tensor, ...],
        target_weight: Tensor | None = None,
    ) -> Tensor:
        """Loss of per-axis ``outputs`` ``[(N, K, Wx), (N, K, Wy)]`` against ``targets`` of the same shapes."""
        if len(outputs) != len(targets):
            raise ValueError(f"MLECCLoss: {len(outputs)} outputs but {len(targets)} targets")
        prob = torch.stack([(o * t).sum(dim=-1) for o, t in zip(outputs, targets, strict=True)]).prod(dim=0)
        if self.mode == "linear":
            loss = 1.0 - prob
        elif self.mode == "square":
            loss = 1.0 - prob.pow(2)
        else:
            loss = -torch.log(prob + 1e-4)
        loss = torch.nan_to_num(loss, nan=0.0, posinf=float("inf"), neginf=float("-inf"))
        if self.use_target_weight:
            loss = loss * expand_weight("MLECCLoss", target_weight, loss.ndim)
        if self.reduction == "sum":
            loss = loss.flatten(1).sum(dim=1)
        elif self.reduction == "mean":
            loss = loss.flatten(1).mean(dim=1)
        return loss * self.loss_weight
