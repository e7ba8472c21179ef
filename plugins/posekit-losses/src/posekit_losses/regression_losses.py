"""Coordinate-regression losses of MMPose 1.x: WingLoss, SoftWingLoss, MSELoss, MPJPEVelocityJointLoss,
BoneLoss, SemiSupervisionLoss and OKSLoss.

Dimensions: N instances, K keypoints, D coordinate dims (2 or 3); predictions and targets
``(N, K, D)``, weights ``(N, K)`` or ``(N, K, D)`` (broadcast over D).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.nn import WeightedKeypointLoss
from posekit_losses._weights import expand_weight


def _weighted(name: str, use: bool, output: Tensor, target: Tensor, weight: Tensor | None) -> tuple[Tensor, Tensor]:
    """``output`` and ``target`` multiplied by the broadcast ``weight`` when ``use`` is set."""
    if not use:
        return output, target
    weight = expand_weight(name, weight, target.ndim)
    return output * weight, target * weight


class WingLoss(WeightedKeypointLoss):
    """Wing loss (Feng et al., CVPR 2018): ``omega * ln(1 + |x| / epsilon)`` below ``omega``, then ``|x| - C``.

    Summed over keypoints and dims, averaged over instances.

    Args:
        omega: width of the non-linear part. Default 10.0.
        epsilon: curvature. Default 2.0.
        use_target_weight: multiply predictions and targets by the keypoint weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(
        self, omega: float = 10.0, epsilon: float = 2.0, use_target_weight: bool = False, loss_weight: float = 1.0
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.omega, self.epsilon = omega, epsilon
        self.C = omega * (1.0 - math.log(1.0 + omega / epsilon))  # joins the two pieces continuously

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Scalar loss of ``output (N, K, D)`` against ``target (N, K, D)``."""
        output, target = _weighted("WingLoss", self.use_target_weight, output, target, target_weight)
        delta = (target - output).abs()
        losses = torch.where(delta < self.omega, self.omega * torch.log1p(delta / self.epsilon), delta - self.C)
        return losses.sum(dim=(1, 2)).mean(dim=0) * self.loss_weight


class SoftWingLoss(WeightedKeypointLoss):
    """Soft Wing loss (Lin et al., TIP 2021): ``|x|`` below ``omega1``, then ``omega2 * ln(1 + |x| / epsilon) + B``.

    Summed over keypoints and dims, averaged over instances.

    Args:
        omega1: where the loss turns logarithmic. Default 2.0.
        omega2: scale of the logarithmic part. Default 20.0.
        epsilon: curvature. Default 0.5.
        use_target_weight: multiply predictions and targets by the keypoint weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(
        self,
        omega1: float = 2.0,
        omega2: float = 20.0,
        epsilon: float = 0.5,
        use_target_weight: bool = False,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.omega1, self.omega2, self.epsilon = omega1, omega2, epsilon
        self.B = omega1 - omega2 * math.log(1.0 + omega1 / epsilon)  # joins the two pieces continuously

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Scalar loss of ``output (N, K, D)`` against ``target (N, K, D)``."""
        output, target = _weighted("SoftWingLoss", self.use_target_weight, output, target, target_weight)
        delta = (target - output).abs()
        losses = torch.where(delta < self.omega1, delta, self.omega2 * torch.log1p(delta / self.epsilon) + self.B)
        return losses.sum(dim=(1, 2)).mean(dim=0) * self.loss_weight


class MSELoss(WeightedKeypointLoss):
    """Mean squared error of coordinates.

    Args:
        use_target_weight: multiply predictions and targets by the keypoint weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    def __init__(self, use_target_weight: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__(use_target_weight, loss_weight)

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Scalar loss of ``output (N, K, D)`` against ``target (N, K, D)``."""
        output, target = _weighted("MSELoss", self.use_target_weight, output, target, target_weight)
        return F.mse_loss(output, target) * self.loss_weight


def _mpjpe(output: Tensor, target: Tensor) -> Tensor:
    """Mean Euclidean distance over the last axis."""
    return torch.linalg.vector_norm(output - target, dim=-1).mean()


class MPJPEVelocityJointLoss(WeightedKeypointLoss):
    """MPJPE + ``lambda_scale`` * N-MPJPE (scale-aligned) + ``lambda_3d_velocity`` * velocity MPJPE (MotionBERT).

    Inputs are sequences ``(N, T, K, D)``; the velocity is the difference along T.

    Args:
        use_target_weight: multiply the errors by the keypoint weights. Default False.
        loss_weight: factor on the loss. Default 1.0.
        lambda_scale: factor of the N-MPJPE term. Default 0.5.
        lambda_3d_velocity: factor of the velocity term. Default 20.0.
    """

    def __init__(
        self,
        use_target_weight: bool = False,
        loss_weight: float = 1.0,
        lambda_scale: float = 0.5,
        lambda_3d_velocity: float = 20.0,
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.lambda_scale = lambda_scale
        self.lambda_3d_velocity = lambda_3d_velocity

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Scalar loss of ``output (N, T, K, D)`` against ``target (N, T, K, D)``; weights broadcast to them."""
        scale = (target * output).sum(-1, keepdim=True).mean(-2, keepdim=True) / output.square().sum(
            -1, keepdim=True
        ).mean(-2, keepdim=True)
        errors = [output - target, scale * output - target, output.diff(dim=-3) - target.diff(dim=-3)]
        if self.use_target_weight:
            if target_weight is None:
                raise ValueError("MPJPEVelocityJointLoss: target_weight is required with use_target_weight=True")
            errors = [e * target_weight for e in errors]
        mpjpe, nmpjpe, velocity = (torch.linalg.vector_norm(e, dim=-1).mean() for e in errors)
        loss = mpjpe + nmpjpe * self.lambda_scale + velocity * self.lambda_3d_velocity
        return loss * self.loss_weight


class BoneLoss(WeightedKeypointLoss):
    """Bone-length loss: mean absolute difference of batch-averaged bone lengths.

    Args:
        joint_parents: the parent index of each joint (a root is its own parent).
        use_target_weight: weight bone lengths by ``target_weight (N, K)`` (per child joint). Default False.
        loss_weight: factor on the loss. Default 1.0.
        loss_name: key of this loss in a loss dict. Default ``'loss_bone'``.
    """

    example_config = {"joint_parents": (0, 0, 1, 0)}  # a small working instance (posekit plugins --check)

    def __init__(
        self,
        joint_parents: tuple[int, ...],
        use_target_weight: bool = False,
        loss_weight: float = 1.0,
        loss_name: str = "loss_bone",
    ) -> None:
        super().__init__(use_target_weight, loss_weight)
        self.joint_parents = list(joint_parents)
        self.non_root_indices = [i for i, p in enumerate(self.joint_parents) if i != p]
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of this loss in a loss dict."""
        return self._loss_name

    def _bones(self, x: Tensor) -> Tensor:
        return torch.linalg.vector_norm(x - x[:, self.joint_parents], dim=-1)[:, self.non_root_indices]

    def forward(self, output: Tensor, target: Tensor, target_weight: Tensor | None = None) -> Tensor:
        """Scalar loss of ``output (N, K, D)`` against ``target (N, K, D)``."""
        out_bone, gt_bone = self._bones(output), self._bones(target)
        if self.use_target_weight:
            if target_weight is None:
                raise ValueError("BoneLoss: target_weight (N, K) is required with use_target_weight=True")
            weight = target_weight[:, self.non_root_indices]
            out_bone, gt_bone = out_bone * weight, gt_bone * weight
        return (out_bone.mean(dim=0) - gt_bone.mean(dim=0)).abs().mean() * self.loss_weight


class SemiSupervisionLoss(nn.Module):
    """Semi-supervised lifting loss (Pavllo et al., CVPR 2019): 2D projection MPJPE and bone-length agreement.

    Args:
        joint_parents: the parent index of each joint (a root is its own parent).
        projection_loss_weight: factor on the projection loss. Default 1.0.
        bone_loss_weight: factor on the bone loss. Default 1.0.
        warmup_iterations: calls that return no loss first (labeled data only). Default 0.
    """

    example_config = {"joint_parents": (0, 0, 1, 0)}  # a small working instance (posekit plugins --check)

    def __init__(
        self,
        joint_parents: tuple[int, ...],
        projection_loss_weight: float = 1.0,
        bone_loss_weight: float = 1.0,
        warmup_iterations: int = 0,
    ) -> None:
        super().__init__()
        self.projection_loss_weight = projection_loss_weight
        self.criterion_bone = BoneLoss(joint_parents, loss_weight=bone_loss_weight)
        self.warmup_iterations = warmup_iterations
        self.num_iterations = 0

    @staticmethod
    def project_joints(x: Tensor, intrinsics: Tensor) -> Tensor:
        """Project camera-space joints ``x (N, K, 3)`` to pixels ``(N, K, 2)``.

        ``intrinsics (N, 4)`` holds f (2), c (2); ``(N, 9)`` adds radial k (3) and tangential p (2) distortion.
        """
        intrinsics = intrinsics.reshape(intrinsics.shape[0], *(1,) * (x.ndim - 2), intrinsics.shape[-1])
        f, c = intrinsics[..., :2], intrinsics[..., 2:4]
        xy = torch.clamp(x[..., :2] / x[..., 2:], -1, 1)
        if intrinsics.shape[-1] == 9:
            k, p = intrinsics[..., 4:7], intrinsics[..., 7:9]
            r2 = xy.square().sum(dim=-1, keepdim=True)
            radial = 1 + (k * torch.cat((r2, r2**2, r2**3), dim=-1)).sum(dim=-1, keepdim=True)
            tangential = (p * xy).sum(dim=-1, keepdim=True)
            xy = xy * (radial + tangential) + p * r2
        return f * xy + c

    def forward(self, output: dict[str, Tensor], target: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{'proj_loss', 'bone_loss'}`` (empty during warm-up).

        Args:
            output: ``labeled_pose``, ``unlabeled_pose`` ``(N, K, 3)`` and ``unlabeled_traj`` ``(N, 1, 3)``.
            target: ``unlabeled_target_2d`` ``(N, K, 2)`` and ``intrinsics`` ``(N, 4)`` or ``(N, 9)``.
        """
        self.num_iterations += 1
        if self.num_iterations <= self.warmup_iterations:
            return {}
        projected = self.project_joints(output["unlabeled_pose"] + output["unlabeled_traj"], target["intrinsics"])
        return {
            "proj_loss": _mpjpe(projected, target["unlabeled_target_2d"]) * self.projection_loss_weight,
            "bone_loss": self.criterion_bone(output["unlabeled_pose"], output["labeled_pose"]),
        }


class OKSLoss(nn.Module):
    """Object keypoint similarity loss (YOLO-Pose): ``1 - OKS`` (or its square / log form) per instance.

    Args:
        metainfo: a registered keypoint definition name or a YAML/JSON definition file whose OKS
            ``sigmas`` scale the distances; default None (no sigmas).
        reduction: ``'mean'``, ``'sum'`` or ``'none'`` (a loss per instance ``(N,)``). Default ``'mean'``.
        mode: ``'linear'`` ``1 - oks``, ``'square'`` ``1 - oks**2`` or ``'log'`` ``-log(oks)``. Default ``'linear'``.
        eps: lower bound of the normalizers. Default 1e-8.
        norm_target_weight: normalize the weights by their sum per instance (else by K). Default False.
        loss_weight: factor on the loss. Default 1.0.
    """

    sigmas: Tensor

    def __init__(
        self,
        metainfo: str | None = None,
        reduction: Literal["mean", "sum", "none"] = "mean",
        mode: Literal["linear", "square", "log"] = "linear",
        eps: float = 1e-8,
        norm_target_weight: bool = False,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.reduction, self.mode, self.eps = reduction, mode, eps
        self.norm_target_weight = norm_target_weight
        self.loss_weight = loss_weight
        if metainfo is not None:
            from posekit.metainfo import load_metainfo

            sigmas = load_metainfo(metainfo).sigmas
            if sigmas is not None:
                self.register_buffer("sigmas", torch.as_tensor(sigmas, dtype=torch.float32))

    def forward(
        self, output: Tensor, target: Tensor, target_weight: Tensor | None = None, areas: Tensor | None = None
    ) -> Tensor:
        """Loss of ``output (N, K, 2)`` against ``target (N, K, 2)``; ``target_weight (N, K)``, ``areas (N,)``."""
        dist = torch.linalg.vector_norm(output - target, dim=-1)
        if areas is not None:
            dist = dist / areas.pow(0.5).clip(min=self.eps).unsqueeze(-1)
        if hasattr(self, "sigmas"):
            dist = dist / (self.sigmas * 2)
        oks = torch.exp(-dist.pow(2) / 2)
        if target_weight is not None:
            norm = (
                target_weight.sum(dim=-1, keepdim=True).clip(min=self.eps) if self.norm_target_weight else oks.shape[-1]
            )
            oks = oks * (target_weight / norm)
        oks = oks.sum(dim=-1)
        loss = {"linear": lambda: 1 - oks, "square": lambda: 1 - oks.pow(2), "log": lambda: -oks.log()}[self.mode]()
        if self.reduction == "sum":
            loss = loss.sum()
        elif self.reduction == "mean":
            loss = loss.mean()
        return loss * self.loss_weight
