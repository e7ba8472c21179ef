"""MPJPELoss: mean per-joint position error, the lifting loss of VideoPose3D."""

from __future__ import annotations

from torch import Tensor

from posekit.nn.losses import WeightedKeypointLoss


class MPJPELoss(WeightedKeypointLoss):
    """Mean Euclidean distance between predicted and target keypoints (MMPose's ``MPJPELoss``).

    ``loss = mean_{n,k} || (output - target)[n, k] * w[n, k] ||_2 * loss_weight``.

    Args:
        use_target_weight: weight each keypoint's error vector by ``target_weight``. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

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
            diff = diff * self.target_weight(diff, target_weight)
        return diff.norm(dim=-1).mean() * self.loss_weight
