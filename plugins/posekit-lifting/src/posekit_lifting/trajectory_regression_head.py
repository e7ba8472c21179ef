"""TrajectoryRegressionHead: the root trajectory head of semi-supervised VideoPose3D.

Same layer and shapes as :class:`TemporalRegressionHead` (a 1x1 Conv1d to ``K * 3``), trained
against ``lifting_target_label`` weighted by the codec's ``trajectory_weights``.
"""

from __future__ import annotations

from typing import ClassVar

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
