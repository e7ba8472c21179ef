"""TrajectoryRegressionHead: the root trajectory head of semi-supervised VideoPose3D.

Same layer and shapes as :class:`TemporalRegressionHead` (a 1x1 Conv1d to ``K * 3``). With as many
joints as the target it is trained against ``lifting_target_label`` weighted by the codec's
``trajectory_weights``; with one joint (a root trajectory, MMPose's semi-supervised configs) against
the codec's ``target_root`` weighted by its inverse depth, as VideoPose3D does.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from posekit.structures import PoseBatch
from posekit_lifting.temporal_regression_head import TemporalRegressionHead


class TrajectoryRegressionHead(TemporalRegressionHead):
    """Regress the trajectory (MMPose's ``TrajectoryRegressionHead``): ``loss_traj`` and ``mpjpe_traj``.

    Args:
        in_channels: channels of the last feature map ``(B, C, T')``.
        num_joints: K (1 for a root trajectory).
        loss: loss config built through the registry. Default ``MPJPELoss(use_target_weight=True)``.
        decoder: the lifting codec used by ``predict``; None: no decoding.
    """

    weight_key: ClassVar[str] = "trajectory_weights"
    loss_name: ClassVar[str] = "loss_traj"
    acc_name: ClassVar[str] = "mpjpe_traj"

    def _targets(self, batch: PoseBatch, pred: Tensor) -> tuple[Tensor, Tensor]:
        """A root trajectory (one joint): ``target_root (B * T, 1, 3)`` weighted by ``1 / depth``; else the parent's."""
        if self.num_joints != 1:
            return super()._targets(batch, pred)
        root = batch.instance_targets("target_root", pred).reshape(-1, 1, 3)
        return root, 1.0 / root[..., 2].clamp(min=1e-6)
