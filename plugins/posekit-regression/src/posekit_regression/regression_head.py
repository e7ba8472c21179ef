"""RegressionHead: one linear layer from a pooled feature to normalized keypoint coordinates (DeepPose).

Dimensions: B samples, K keypoints, pooled feature ``(B, C)`` (e.g. after ``GlobalAveragePooling``),
output ``(B, K, 2)`` in input-normalized coordinates. state_dict keys: ``fc``, ``loss_module``.
"""

from __future__ import annotations

from torch import Tensor

from posekit.structures import PoseBatch, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_regression._base import RegressionHeadBase, coordinate_accuracy


class RegressionHead(RegressionHeadBase):
    """Top-down regression head (`DeepPose`_, Toshev and Szegedy 2014).

    Args:
        in_channels: channels of the (pooled) last feature.
        num_joints: K, the number of keypoints.
        loss: loss config. Default ``SmoothL1Loss(use_target_weight=True)``.
        decoder: codec config used by ``predict`` (``RegressionLabel``); None: no decoding.

    .. _`DeepPose`: https://arxiv.org/abs/1312.4659
    """

    #: a small working instance and the features it takes (``posekit plugins --check``)
    example_config = {
        "in_channels": 8,
        "num_joints": 17,
        "decoder": {"type": "RegressionLabel", "input_size": (64, 48)},
    }
    example_inputs = {"feat_shapes": [(8,)]}

    def __init__(
        self, in_channels: int, num_joints: int, loss: LossConfig | None = None, decoder: CodecConfig | None = None
    ) -> None:
        super().__init__()
        self._linear(in_channels, num_joints, 2, loss or {"type": "SmoothL1Loss", "use_target_weight": True}, decoder)
        self.init_weights()

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        """``feats[-1] (B, C, ...)`` -> coordinates ``(B, K, 2)``."""
        return self._fc_forward(feats)

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Loss against ``batch.targets['keypoint_labels'] (B, 1, K, 2)`` weighted by ``keypoint_weights (B, 1, K)``.

        Returns:
            ``loss_kpt`` and, with ``train_cfg.compute_acc``, ``acc_pose`` (PCK@0.05 in normalized coordinates).
        """
        pred = self.forward(feats)
        labels = batch.instance_targets("keypoint_labels", pred)
        weights = batch.instance_targets("keypoint_weights", pred)
        losses = {"loss_kpt": self.loss_module(pred, labels, weights.unsqueeze(-1))}
        if train_cfg.compute_acc:
            losses["acc_pose"] = coordinate_accuracy(pred, labels, weights)
        return losses
