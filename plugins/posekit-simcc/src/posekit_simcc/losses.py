"""KLDiscretLoss: KL divergence between softmaxed SimCC predictions and labels (SimCC / RTMPose).

Dimensions: N instances, K keypoints, ``Wx`` / ``Wy`` SimCC bins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KLDiscretLoss(nn.Module):
    """Discrete KL divergence for SimCC with Gaussian label smoothing (MMPose 1.x).

    For each axis, ``KL(labels || softmax(pred * beta))`` averaged over the bins, times the keypoint
    weight, summed over instances, keypoints and both axes, divided by K.

    Args:
        beta: temperature of the prediction softmax. Default 1.0.
        label_softmax: turn labels into a distribution by ``softmax(labels * label_beta)``. Default False.
        label_beta: temperature of the label softmax. Default 10.0.
        use_target_weight: weight each keypoint by its target weight. Default True.
        mask: indices of keypoints whose loss is scaled by ``mask_weight``; None: none.
        mask_weight: factor on the masked keypoints' loss. Default 1.0.
    """

    batch_reduction = "sum"  # summed over instances: the trainer scales it by N under N processes

    def __init__(
        self,
        beta: float = 1.0,
        label_softmax: bool = False,
        label_beta: float = 10.0,
        use_target_weight: bool = True,
        mask: tuple[int, ...] | None = None,
        mask_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.beta = beta
        self.label_softmax = label_softmax
        self.label_beta = label_beta
        self.use_target_weight = use_target_weight
        self.mask = list(mask) if mask is not None else None
        self.mask_weight = mask_weight

    def criterion(self, dec_outs: Tensor, labels: Tensor) -> Tensor:
        """Per-row KL divergence ``(M,)`` of logits ``(M, L)`` against labels ``(M, L)``, averaged over L."""
        log_pt = F.log_softmax(dec_outs * self.beta, dim=1)
        if self.label_softmax:
            labels = F.softmax(labels * self.label_beta, dim=1)
        return torch.mean(F.kl_div(log_pt, labels, reduction="none"), dim=1)

    def forward(
        self, pred_simcc: tuple[Tensor, Tensor], gt_simcc: tuple[Tensor, Tensor], target_weight: Tensor | None = None
    ) -> Tensor:
        """Scalar loss.

        Args:
            pred_simcc: predicted ``(x (N, K, Wx), y (N, K, Wy))`` logits.
            gt_simcc: labels of the same shapes.
            target_weight: keypoint weights ``(N, K)``; required with ``use_target_weight``.
        """
        n, k, _ = pred_simcc[0].shape
        weight: Tensor | float = 1.0
        if self.use_target_weight:
            if target_weight is None or target_weight.numel() != n * k:
                got = None if target_weight is None else tuple(target_weight.shape)
                raise ValueError(f"target_weight: expected shape (N, K) = ({n}, {k}), got {got}")
            weight = target_weight.reshape(-1)
        loss = pred_simcc[0].new_zeros(())
        for pred, target in zip(pred_simcc, gt_simcc, strict=True):
            if pred.shape != target.shape:
                raise ValueError(f"gt_simcc: expected shape {tuple(pred.shape)}, got {tuple(target.shape)}")
            t_loss = self.criterion(pred.reshape(-1, pred.size(-1)), target.reshape(-1, target.size(-1))) * weight
            if self.mask is not None:
                t_loss = t_loss.reshape(n, k)
                t_loss[:, self.mask] = t_loss[:, self.mask] * self.mask_weight
            loss = loss + t_loss.sum()
        return loss / k
