"""RLEHead: one linear layer to coordinates and their sigmas, trained with the RLE flow loss.

Dimensions: B samples, K keypoints, pooled feature ``(B, C)``, output ``(B, K, 4)``:
normalized ``(x, y)`` and sigma logits. state_dict keys: ``fc``, ``loss_module`` (holding the
RealNVP flow ``loss_module.flow_model``); MMPose 0.x ``loss.*`` keys are renamed on load.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from posekit.codec_utils import flip_coordinates
from posekit.structures import PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_regression._base import RegressionHeadBase, coordinate_accuracy


class RLEHead(RegressionHeadBase):
    """Top-down regression head with residual log-likelihood estimation (`RLE`_, Li et al. 2021).

    Args:
        in_channels: channels of the (pooled) last feature.
        num_joints: K, the number of keypoints.
        loss: loss config. Default ``RLELoss(use_target_weight=True)``.
        decoder: codec config used by ``predict`` (``RegressionLabel``: scores are ``1 - sigma``);
            None: no decoding.

    .. _`RLE`: https://arxiv.org/abs/2107.11291
    """

    #: a small working instance and the features it takes (``posekit plugins --check``)
    example_config = {
        "in_channels": 8,
        "num_joints": 17,
        "decoder": {"type": "RegressionLabel", "input_size": (64, 48)},
    }
    example_inputs = {"feat_shapes": [(8,)]}

    _version = 2

    def __init__(
        self, in_channels: int, num_joints: int, loss: LossConfig | None = None, decoder: CodecConfig | None = None
    ) -> None:
        super().__init__()
        self._linear(in_channels, num_joints, 4, loss or {"type": "RLELoss", "use_target_weight": True}, decoder)
        self._register_load_state_dict_pre_hook(self._rename_v1_keys)
        self.init_weights()  # every linear layer, the flow's included

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        """``feats[-1] (B, C, ...)`` -> ``(B, K, 4)``: normalized coordinates and sigma logits."""
        return self._fc_forward(feats)

    def coordinates_of(self, outputs: Tensor) -> Tensor:
        """``(B, K, 4)`` with the sigmas squashed by a sigmoid."""
        return torch.cat([outputs[..., :2], outputs[..., 2:].sigmoid()], dim=-1)

    def flipped_coordinates(self, feats: tuple[Tensor, ...], batch: PoseBatch, test_cfg: TestCfg) -> Tensor:
        """Flip the raw output back first, then squash the sigmas (MMPose's order)."""
        sample = batch.samples[0]
        out = flip_coordinates(self.forward(feats), sample.flip_indices, test_cfg.shift_coords, sample.input_size)
        return self.coordinates_of(out)

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """RLE loss against ``batch.targets['keypoint_labels'] (B, 1, K, 2)`` and ``keypoint_weights (B, 1, K)``.

        Returns:
            ``loss_kpt`` and, with ``train_cfg.compute_acc``, ``acc_pose`` (PCK@0.05 in normalized coordinates).
        """
        out = self.forward(feats)
        pred, sigma = out[..., :2], out[..., 2:4]
        labels = batch.instance_targets("keypoint_labels", pred)
        weights = batch.instance_targets("keypoint_weights", pred)
        losses = {"loss_kpt": self.loss_module(pred, sigma, labels, weights.unsqueeze(-1))}
        if train_cfg.compute_acc:
            losses["acc_pose"] = coordinate_accuracy(pred, labels, weights)
        return losses

    def _rename_v1_keys(self, state_dict: dict[str, Tensor], prefix: str, local_metadata: dict, *args: Any) -> None:
        """MMPose < 1.0 named the loss ``loss``: ``loss.*`` -> ``loss_module.*``."""
        if local_metadata.get("version", 0) >= self._version:
            return
        for key in [k for k in state_dict if k.startswith(prefix + "loss.")]:
            state_dict[prefix + "loss_module." + key[len(prefix) + 5 :]] = state_dict.pop(key)
