"""MPJPELoss: mean per-joint position error, the lifting loss of VideoPose3D."""

from __future__ import annotations

from torch import Tensor, nn


class MPJPELoss(nn.Module):
    """Mean Euclidean distance between predicted and target keypoints (MMPose's ``MPJPELoss``).

    ``loss = mean_{n,k} || (output - target)[n, k] * w[n, k] ||_2 * loss_weight``.

    Args:
        use_target_weight: weight each keypoint's error vector by ``target_weight``. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(self, use_target_weight: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Args:
            output: predicted keypoints ``(N, K, D)``.
            target: target keypoints ``(N, K, D)``.
            target_weight: ``(N, K)`` or ``(N, K, 1)``; used with ``use_target_weight``.

        Returns:
            the scalar loss.
        """
        if output.shape != target.shape:
            raise ValueError(f"target: expected shape {tuple(output.shape)} (as output), got {tuple(target.shape)}")
        diff = output - target
        if self.use_target_weight:
            if target_weight is None:
                raise ValueError("target_weight: required with use_target_weight=True, got None")
            while target_weight.ndim < diff.ndim:
                target_weight = target_weight.unsqueeze(-1)
            diff = diff * target_weight
        return diff.norm(dim=-1).mean() * self.loss_weight
