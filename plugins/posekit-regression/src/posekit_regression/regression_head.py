"""RegressionHead: one linear layer from a pooled feature to normalized keypoint coordinates (DeepPose).

Dimensions: B samples, K keypoints, pooled feature ``(B, C)`` (e.g. after ``GlobalAveragePooling``),
output ``(B, K, 2)`` in input-normalized coordinates. state_dict keys: ``fc``, ``loss_module``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from posekit.nn import normal_init
from posekit.registry import build
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
        self.in_channels = in_channels
        self.num_joints = num_joints
        self.fc = nn.Linear(in_channels, num_joints * 2)
        self.loss_module = build("loss", loss or {"type": "SmoothL1Loss", "use_target_weight": True}, "loss")
        self.decoder = build("codec", decoder, "decoder") if decoder is not None else None
        self.init_weights()

    def init_weights(self) -> None:
        """Linear layers from N(0, 0.01^2) with zero bias (MMPose's default)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                normal_init(m, std=0.01)

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        """``feats[-1] (B, C, ...)`` -> coordinates ``(B, K, 2)``."""
        return self.fc(torch.flatten(feats[-1], 1)).reshape(-1, self.num_joints, 2)

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
