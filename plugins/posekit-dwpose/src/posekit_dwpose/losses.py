"""DWPose's distillation losses (MMPose's ``logit_dis_loss.py`` and ``fea_dis_loss.py``).

Dimensions: N samples, K keypoints, ``Wx`` / ``Wy`` SimCC bins; features ``(N, C, H, W)``.
Both take MMPose's ``name`` and ``use_this`` arguments, which :class:`DWPoseDistiller` reads
(the loss's key in the outputs, and whether it is built at all).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KDLoss(nn.Module):
    """Logit distillation: KL divergence from the teacher's SimCC distributions to the student's.

    For each axis, ``sum_bins KL(softmax(beta * teacher) || log_softmax(beta * student))`` summed
    over keypoints, averaged over samples, times ``weight``; the two axes added and divided by K.

    Args:
        name: the loss's key in the distiller's outputs. Default ``loss_logit``.
        use_this: whether the distiller builds and uses it. Default True.
        weight: multiplies the loss. Default 1.0.
    """

    example_config = {"name": "loss_logit", "use_this": True, "weight": 0.1}

    def __init__(self, name: str = "loss_logit", use_this: bool = True, weight: float = 1.0) -> None:
        super().__init__()
        self.name = name
        self.use_this = use_this
        self.weight = weight

    def forward(
        self,
        pred: tuple[Tensor, Tensor],
        pred_t: tuple[Tensor, Tensor],
        beta: float,
        target_weight: Tensor | None = None,
    ) -> Tensor:
        """Scalar loss.

        Args:
            pred: the student's ``(x (N, K, Wx), y (N, K, Wy))`` logits.
            pred_t: the teacher's, same shapes (detached here).
            beta: temperature multiplying both logits (the student's ``KLDiscretLoss.beta``).
            target_weight: ``(N, K)``; unused, as in MMPose (every keypoint counts).
        """
        num_keypoints = pred[0].shape[1]
        total = self._axis(pred[0], pred_t[0].detach(), beta) + self._axis(pred[1], pred_t[1].detach(), beta)
        return total / num_keypoints

    def _axis(self, logit_s: Tensor, logit_t: Tensor, beta: float) -> Tensor:
        n, k = logit_s.shape[:2]
        log_s = F.log_softmax(logit_s.reshape(n * k, -1) * beta, dim=1)
        p_t = F.softmax(logit_t.reshape(n * k, -1) * beta, dim=1)
        kl = F.kl_div(log_s, p_t, reduction="none").sum(dim=1)  # (N * K,)
        return self.weight * kl.reshape(n, k).sum(dim=1).mean()


class FeaLoss(nn.Module):
    """Feature distillation: ``alpha_fea * sum((align(student) - teacher)^2) / N``.

    ``align`` is a 1x1 conv from the student's channels to the teacher's (only when they differ);
    it is trained with the student (state_dict keys ``align.weight``, ``align.bias``).

    Args:
        name: the loss's key in the distiller's outputs. Default ``loss_fea``.
        use_this: whether the distiller builds and uses it. Default True.
        student_channels: channels of the student's last feature map.
        teacher_channels: channels of the teacher's last feature map.
        alpha_fea: multiplies the loss. Default 0.00007.
    """

    example_config = {"name": "loss_fea", "use_this": True, "student_channels": 8, "teacher_channels": 16}

    def __init__(
        self,
        name: str = "loss_fea",
        use_this: bool = True,
        student_channels: int = 256,
        teacher_channels: int = 256,
        alpha_fea: float = 0.00007,
    ) -> None:
        super().__init__()
        self.name = name
        self.use_this = use_this
        self.alpha_fea = alpha_fea
        self.align = nn.Conv2d(student_channels, teacher_channels, 1) if student_channels != teacher_channels else None

    def forward(self, preds_s: Tensor, preds_t: Tensor) -> Tensor:
        """Scalar loss of the student's ``(N, Cs, H, W)`` against the teacher's ``(N, Ct, H, W)`` features."""
        if self.align is not None:
            preds_s = self.align(preds_s)
        if preds_s.shape != preds_t.shape:
            raise ValueError(
                f"FeaLoss: student features {tuple(preds_s.shape)} (after align) differ from the teacher's "
                f"{tuple(preds_t.shape)}; set student_channels / teacher_channels to the two last feature maps'"
            )
        return torch.sum((preds_s - preds_t) ** 2) / preds_t.shape[0] * self.alpha_fea
