"""Classification losses of MMPose 1.x: BCELoss, JSDiscretLoss, InfoNCELoss and VariFocalLoss.

Dimensions: N instances, K keypoints (or labels); weights ``(N, K)`` or ``(N,)``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.nn import WeightedKeypointLoss
from posekit_losses._weights import expand_weight

Reduction = Literal["mean", "sum", "none"]


def _reduce(loss: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    return loss


def _label_weight(name: str, weight: Tensor | None) -> Tensor:
    """Weights ``(N, K)``, or ``(N,)`` made ``(N, 1)``."""
    if weight is None:
        raise ValueError(f"{name}: target_weight is required with use_target_weight=True")
    return weight[:, None] if weight.ndim == 1 else weight


class BCELoss(WeightedKeypointLoss):
    """Binary cross entropy (e.g. VisPredictHead's visibility).

    Args:
        use_target_weight: multiply the per-element loss by the weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``. Default ``'mean'``.
        use_sigmoid: the outputs are probabilities already (plain BCE); else logits. Default False.
    """

    def __init__(
        self,
        use_target_weight: bool = False,
        loss_weight: float = 1.0,
        reduction: Reduction = "mean",
        use_sigmoid: bool = False,
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.reduction = reduction
        self.use_sigmoid = use_sigmoid

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Loss of ``output (N, K)`` against ``target (N, K)`` in [0, 1]."""
        criterion = F.binary_cross_entropy if self.use_sigmoid else F.binary_cross_entropy_with_logits
        loss = criterion(output, target, reduction="none")
        if self.use_target_weight:
            loss = loss * _label_weight("BCELoss", target_weight)
        return _reduce(loss, self.reduction) * self.loss_weight


class JSDiscretLoss(nn.Module):
    """Jensen-Shannon divergence between normalized heatmaps (DSNT), summed over pixels and keypoints.

    Args:
        use_target_weight: multiply both heatmaps by the keypoint weights. Default True.
        size_average: divide by the batch size. Default True.
    """

    def __init__(self, use_target_weight: bool = True, size_average: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.size_average = size_average

    @staticmethod
    def kl(p: Tensor, q: Tensor) -> Tensor:
        """Element-wise ``p * log(p / q)`` (0 where p is 0)."""
        return F.kl_div((q + 1e-24).log(), p, reduction="none")

    def js(self, pred_hm: Tensor, gt_hm: Tensor) -> Tensor:
        """Element-wise Jensen-Shannon divergence."""
        m = 0.5 * (pred_hm + gt_hm)
        return 0.5 * (self.kl(pred_hm, m) + self.kl(gt_hm, m))

    def forward(self, pred_hm: Tensor, gt_hm: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Scalar loss of ``pred_hm (N, K, H, W)`` against ``gt_hm (N, K, H, W)``; weights ``(N, K)``."""
        if self.use_target_weight:
            weight = expand_weight("JSDiscretLoss", target_weight, pred_hm.ndim)
            pred_hm, gt_hm = pred_hm * weight, gt_hm * weight
        loss = self.js(pred_hm, gt_hm)
        if self.size_average:
            loss = loss / len(gt_hm)
        return loss.sum()


class InfoNCELoss(nn.Module):
    """InfoNCE contrastive loss (`CPC <https://arxiv.org/abs/1807.03748>`__): each sample is its own class.

    Args:
        temperature: softmax temperature, > 0. Default 1.0.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(self, temperature: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"InfoNCELoss: temperature must be positive, got {temperature}")
        self.temp = temperature
        self.loss_weight = loss_weight

    def forward(self, features: Tensor) -> Tensor:
        """Scalar loss (summed over samples) of ``features (N, C)``."""
        normed = F.normalize(features, dim=1)
        logits = normed @ normed.t() / self.temp
        targets = torch.arange(len(features), device=features.device)
        return F.cross_entropy(logits, targets, reduction="sum") * self.loss_weight


class VariFocalLoss(WeightedKeypointLoss):
    """Varifocal loss (`VarifocalNet <https://arxiv.org/abs/2008.13367>`__) on logits against IoU-like scores.

    Args:
        use_target_weight: multiply the per-element loss by the weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``. Default ``'mean'``.
        alpha: weight of the negatives. Default 0.75.
        gamma: focusing exponent on the negatives' predicted score. Default 2.0.
    """

    def __init__(
        self,
        use_target_weight: bool = False,
        loss_weight: float = 1.0,
        reduction: Reduction = "mean",
        alpha: float = 0.75,
        gamma: float = 2.0,
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.reduction = reduction
        self.alpha = alpha
        self.gamma = gamma

    def criterion(self, output: Tensor, target: Tensor) -> Tensor:
        """Element-wise loss of logits ``output`` against scores ``target``."""
        negative = (target <= 1e-4).to(target.dtype)
        weight = self.alpha * output.sigmoid().pow(self.gamma) * negative + target
        return F.binary_cross_entropy_with_logits(output.clip(-10, 10), target, reduction="none") * weight

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Loss of ``output (N, K)`` logits against ``target (N, K)``; inf and NaN elements count as 0."""
        loss = self.criterion(output, target)
        if self.use_target_weight:
            loss = loss * _label_weight("VariFocalLoss", target_weight)
        loss = torch.where(torch.isfinite(loss), loss, torch.zeros_like(loss))
        return _reduce(loss, self.reduction) * self.loss_weight
