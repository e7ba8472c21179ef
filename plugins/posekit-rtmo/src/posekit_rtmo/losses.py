"""IoULoss of box regression (YOLOX-Pose, RTMO), as MMPose's ``mmpose/models/losses/bbox_loss.py``."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from posekit_rtmo._ops import bbox_overlaps


class IoULoss(nn.Module):
    """``1 - IoU`` (``linear``), ``1 - IoU**2`` (``square``) or ``-log IoU`` (``log``) of aligned xyxy boxes.

    Args:
        reduction: ``'mean'``, ``'sum'`` or ``'none'`` (one loss per box). Default ``'mean'``.
        mode: ``linear``, ``square`` or ``log``. Default ``log``.
        eps: lower bound of the IoU. Default 1e-16.
        loss_weight: factor on the loss. Default 1.0.
    """

    example_config = {"mode": "square", "reduction": "sum"}

    def __init__(
        self,
        reduction: Literal["mean", "sum", "none"] = "mean",
        mode: Literal["linear", "square", "log"] = "log",
        eps: float = 1e-16,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.reduction, self.mode, self.eps, self.loss_weight = reduction, mode, eps, loss_weight

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Loss of boxes ``output (N, 4)`` against ``target (N, 4)``; ``target_weight (N,)`` scales each box."""
        ious = bbox_overlaps(output, target, is_aligned=True).clamp(min=self.eps)
        if self.mode == "linear":
            loss = 1 - ious
        elif self.mode == "square":
            loss = 1 - ious.pow(2)
        else:
            loss = -ious.log()
        if target_weight is not None:
            loss = loss * target_weight.reshape(loss.shape[0], *([1] * (loss.ndim - 1)))
        if self.reduction == "sum":
            loss = loss.sum()
        elif self.reduction == "mean":
            loss = loss.mean()
        return loss * self.loss_weight
