"""Coordinate regression losses: SmoothL1Loss, L1Loss, SoftWeightSmoothL1Loss and RLELoss (MMPose 1.x).

Dimensions: N instances, K keypoints, D coordinate dims; predictions and targets ``(N, K, D)``,
weights ``(N, K)`` or ``(N, K, 1)`` (broadcast over D).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, distributions, nn

from posekit.nn.losses import WeightedKeypointLoss, expand_target_weight


class SmoothL1Loss(WeightedKeypointLoss):
    """Smooth L1 (Huber, beta 1) loss, averaged over all elements.

    Args:
        use_target_weight: multiply predictions and targets by the keypoint weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Scalar loss of ``output (N, K, D)`` against ``target (N, K, D)``."""
        if self.use_target_weight:
            weight = self.target_weight(target, target_weight)
            output, target = output * weight, target * weight
        return F.smooth_l1_loss(output, target) * self.loss_weight


class L1Loss(WeightedKeypointLoss):
    """L1 loss.

    Args:
        reduction: ``'mean'``, ``'sum'`` or ``'none'`` over the elements. Default ``'mean'``.
        use_target_weight: multiply predictions and targets by the keypoint weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(
        self,
        reduction: Literal["mean", "sum", "none"] = "mean",
        use_target_weight: bool = False,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.reduction = reduction

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Loss of ``output (N, K, D)`` against ``target (N, K, D)`` (a scalar unless ``reduction='none'``)."""
        if self.use_target_weight:
            weight = self.target_weight(target, target_weight)
            output, target = output * weight, target * weight
        return F.l1_loss(output, target, reduction=self.reduction) * self.loss_weight


class SoftWeightSmoothL1Loss(WeightedKeypointLoss):
    """Smooth L1 loss whose per-element values are scaled by soft (real-valued) keypoint weights.

    Args:
        use_target_weight: scale each element's loss by its keypoint weight. Default False.
        supervise_empty: average over all elements (else over the elements with a positive weight).
            Default True.
        beta: where the loss turns from quadratic to linear. Default 1.0.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(
        self, use_target_weight: bool = False, supervise_empty: bool = True, beta: float = 1.0, loss_weight: float = 1.0
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.supervise_empty = supervise_empty
        self.beta = beta

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Scalar loss of ``output (N, K, D)`` against ``target (N, K, D)``."""
        delta = (output - target).abs()
        loss = torch.where(delta < self.beta, delta.pow(2) / (2 * self.beta), delta - self.beta / 2)
        if not self.use_target_weight:
            return loss.mean() * self.loss_weight
        weight = self.target_weight(target, target_weight)
        loss = loss * weight
        if self.supervise_empty:
            return loss.mean() * self.loss_weight
        return loss.sum() / max(int(torch.count_nonzero(weight > 0)), 1) * self.loss_weight


class RealNVP(nn.Module):
    """RealNVP normalizing flow over 2D errors (Dinh et al. 2017), as in RLE's official code.

    Six affine coupling layers alternating the masked coordinate; ``log_prob(x)`` is the
    log-density of ``x (M, 2)`` under the flow with a standard normal prior.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("loc", torch.zeros(2))
        self.register_buffer("cov", torch.eye(2))
        self.register_buffer("mask", torch.tensor([[0, 1], [1, 0]] * 3, dtype=torch.float32))
        self.s = nn.ModuleList([self._scale_net() for _ in range(len(self.mask))])
        self.t = nn.ModuleList([self._trans_net() for _ in range(len(self.mask))])
        self.init_weights()

    @staticmethod
    def _scale_net() -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(2, 64), nn.LeakyReLU(), nn.Linear(64, 64), nn.LeakyReLU(), nn.Linear(64, 2), nn.Tanh()
        )

    @staticmethod
    def _trans_net() -> nn.Sequential:
        return nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(), nn.Linear(64, 64), nn.LeakyReLU(), nn.Linear(64, 2))

    def init_weights(self) -> None:
        """Xavier-uniform linear weights with gain 0.01 (biases keep PyTorch's default)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=0.01)

    def backward_p(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Map data ``x (M, 2)`` to the latent space; returns ``z (M, 2)`` and ``log|det J| (M,)``."""
        log_det_jacob, z = x.new_zeros(x.shape[0]), x
        for i in reversed(range(len(self.t))):
            z_ = self.mask[i] * z
            s = self.s[i](z_) * (1 - self.mask[i])
            t = self.t[i](z_) * (1 - self.mask[i])
            z = (1 - self.mask[i]) * (z - t) * torch.exp(-s) + z_
            log_det_jacob = log_det_jacob - s.sum(dim=1)
        return z, log_det_jacob

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density ``(M,)`` of ``x (M, 2)``."""
        z, log_det = self.backward_p(x)
        return distributions.MultivariateNormal(self.loc, self.cov).log_prob(z) + log_det


class RLELoss(nn.Module):
    """Residual log-likelihood estimation loss (`RLE`_, Li et al. 2021) with a RealNVP flow.

    With predicted ``sigma = sigmoid(sigma_logit)`` and ``error = (pred - target) / sigma``, the loss
    per keypoint axis is ``log(sigma) - log_phi(error)`` (the flow's density of the 2D error) plus,
    with ``residual``, the negative log-likelihood of ``error`` under ``q_distribution``.

    Args:
        use_target_weight: multiply the loss by the keypoint weights. Default False.
        size_average: divide the summed loss by the batch size. Default True.
        residual: add the ``q_distribution`` term (the flow learns the residual). Default True.
        q_distribution: ``'laplace'`` or ``'gaussian'``. Default ``'laplace'``.

    .. _`RLE`: https://arxiv.org/abs/2107.11291
    """

    def __init__(
        self,
        use_target_weight: bool = False,
        size_average: bool = True,
        residual: bool = True,
        q_distribution: Literal["laplace", "gaussian"] = "laplace",
    ) -> None:
        super().__init__()
        self.size_average = size_average
        self.use_target_weight = use_target_weight
        self.residual = residual
        self.q_distribution = q_distribution
        self.flow_model = RealNVP()

    def forward(self, pred: Tensor, sigma: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Scalar loss.

        Args:
            pred: predicted coordinates ``(N, K, 2)``.
            sigma: predicted sigma logits ``(N, K, 2)`` (the sigmoid is applied here).
            target: target coordinates ``(N, K, 2)``.
            target_weight: keypoint weights ``(N, K)`` or ``(N, K, 1)``; required with ``use_target_weight``.
        """
        if pred.shape != target.shape or sigma.shape != target.shape or target.shape[-1] != 2:
            raise ValueError(
                f"RLELoss: pred, sigma and target must share a shape (N, K, 2), got {tuple(pred.shape)}, "
                f"{tuple(sigma.shape)} and {tuple(target.shape)}"
            )
        sigma = sigma.sigmoid()
        error = (pred - target) / (sigma + 1e-9)
        log_phi = self.flow_model.log_prob(error.reshape(-1, 2)).reshape(target.shape[0], target.shape[1], 1)
        loss = torch.log(sigma) - log_phi
        if self.residual:
            if self.q_distribution == "laplace":
                loss = loss + torch.log(sigma * 2) + torch.abs(error)
            else:
                loss = loss + torch.log(sigma * math.sqrt(2 * math.pi)) + 0.5 * error**2
        if self.use_target_weight:
            loss = loss * expand_target_weight("RLELoss", target, target_weight)
        if self.size_average:
            loss = loss / len(loss)
        return loss.sum()
