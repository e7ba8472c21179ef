"""VisPredictHead: a pose head plus a visibility branch (pooling, one linear layer) predicting per keypoint
whether it is visible, trained with a BCE loss against the keypoint weights (MMPose 1.x's ``VisPredictHead``).

Dimensions: B samples, N = 1 instance per sample (top-down), K keypoints; the last feature map
``(B, C, h, w)`` (or ``(B, C)``) gives visibilities ``(B, K)``, probabilities after ``predict``.
State_dict keys are MMPose's: ``pose_head.*`` (the wrapped head's own), ``vis_head.2.{weight,bias}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import normal_init
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import HeadConfig, LossConfig

_BCE = {"type": "BCELoss", "use_target_weight": False, "use_sigmoid": True}


def flip_visibility(vis: Tensor, flip_indices: Sequence[int]) -> Tensor:
    """Visibilities ``(B, K)`` of a flipped input mapped back to the original keypoint order."""
    return vis[:, list(flip_indices)]


class VisPredictHead(BaseHead):
    """Keypoint visibility prediction around a top-down pose head.

    ``loss`` returns the wrapped head's losses plus ``loss_vis`` (BCE of the visibility against the
    keypoint weights, weighted by ``batch.targets['keypoints_visible_weights']`` when the loss uses
    target weights and a codec encoded them, else by ones) and ``acc_vis``; ``predict`` returns the wrapped head's
    predictions with ``keypoints_visible (1, K)`` (probabilities) set.

    Args:
        pose_cfg: the wrapped head's config (any head taking ``in_channels`` and ``num_joints`` or
            ``out_channels``), built by its registered name.
        loss: the visibility loss. Default ``BCELoss(use_target_weight=False, use_sigmoid=True)``; with
            ``use_sigmoid`` the branch ends in a sigmoid (the loss takes probabilities), else in logits.
    """

    example_config = {
        "pose_cfg": {
            "type": "HeatmapHead",
            "in_channels": 8,
            "out_channels": 17,
            "deconv_out_channels": (8,),
            "deconv_kernel_sizes": (4,),
            "decoder": {"type": "MSRAHeatmap", "input_size": (48, 64), "heatmap_size": (12, 16), "sigma": 2.0},
        },
        "loss": {"type": "BCELoss", "use_target_weight": True, "use_sigmoid": True},
    }
    example_inputs = {"feat_shapes": [(8, 8, 6)]}

    def __init__(self, pose_cfg: HeadConfig, loss: LossConfig = _BCE) -> None:
        super().__init__()
        if "in_channels" not in pose_cfg:
            raise ConfigError(f"VisPredictHead: pose_cfg of {pose_cfg.get('type')} needs 'in_channels'")
        k = pose_cfg.get("num_joints", pose_cfg.get("out_channels"))
        if not isinstance(k, int):
            raise ConfigError(
                f"VisPredictHead: pose_cfg of {pose_cfg.get('type')} needs 'num_joints' or 'out_channels'"
            )
        self.in_channels = int(pose_cfg["in_channels"])
        self.out_channels = k
        self.pose_cfg = dict(pose_cfg)
        self.use_sigmoid = bool(dict(loss).get("use_sigmoid", False))
        self.loss_module = build("loss", dict(loss), "loss")
        self.pose_head = build("head", dict(pose_cfg), "pose_cfg")
        self.decoder = self.pose_head.decoder
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(self.in_channels, k)]
        if self.use_sigmoid:
            layers.append(nn.Sigmoid())
        self.vis_head = nn.Sequential(*layers)
        normal_init(self.vis_head[2], std=0.01)

    def vis_forward(self, feats: Sequence[Tensor]) -> Tensor:
        """``feats[-1]`` ``(B, C, h, w)`` (or fewer dims) -> visibilities ``(B, K)`` (probabilities if use_sigmoid)."""
        x = feats[-1]
        while x.ndim < 4:
            x = x.unsqueeze(-1)
        return self.vis_head(x).reshape(-1, self.out_channels)

    def forward(self, feats: Sequence[Tensor]) -> tuple[Any, Tensor]:
        """``(the wrapped head's outputs, visibilities (B, K))``."""
        return self.pose_head.forward(feats), self.vis_forward(feats)

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """The wrapped head's predictions with ``keypoints_visible (1, K)`` probabilities; with flip test the
        flipped input's visibilities are mapped back and averaged in."""
        if test_cfg.flip_test:
            feats_orig, feats_flip = feats
            flipped = flip_visibility(self.vis_forward(feats_flip), batch.samples[0].flip_indices)
            vis = (self.vis_forward(feats_orig) + flipped) * 0.5
        else:
            vis = self.vis_forward(feats)
        if not self.use_sigmoid:
            vis = torch.sigmoid(vis)
        preds = self.pose_head.predict(feats, batch, test_cfg)
        visible = vis.detach().cpu().float().numpy()
        for pred, v in zip(preds, visible, strict=True):
            pred.keypoints_visible = v[None]
        return preds

    def vis_accuracy(self, vis: Tensor, labels: Tensor, weights: Tensor | None) -> Tensor:
        """Share of keypoints whose visibility (at 0.5) equals the label, weighted, averaged over samples."""
        probs = vis if self.use_sigmoid else torch.sigmoid(vis)
        correct = ((probs >= 0.5).float() == labels).float()
        if weights is None:
            return correct.mean(dim=1).mean()
        return ((correct * weights).sum(dim=1) / (weights.sum(dim=1) + 1e-6)).mean()

    def loss(self, feats: Sequence[Tensor], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """``loss_vis``, ``acc_vis`` and the wrapped head's losses (``loss_kpt``, ...)."""
        vis = self.vis_forward(feats)
        labels = batch.instance_targets("keypoint_weights", vis)
        weights = None
        if getattr(self.loss_module, "use_target_weight", False):
            # MMPose reads keypoints_visible_weights from the packed targets, which its heatmap codecs never
            # pack: with them the weights are ones there, as here
            weights = (
                batch.instance_targets("keypoints_visible_weights", vis)
                if ("keypoints_visible_weights" in batch.targets)
                else torch.ones_like(vis)
            )
        with torch.no_grad():
            accuracy = self.vis_accuracy(vis, labels, weights)
        losses = {"loss_vis": self.loss_module(vis, labels, weights), "acc_vis": accuracy}
        losses.update(self.pose_head.loss(feats, batch, train_cfg))
        return losses

    def export_outputs(
        self, outputs: Any, flip_outputs: Any | None, flip_indices: Sequence[int], test_cfg: TestCfg
    ) -> tuple[Tensor, ...] | None:
        """The wrapped head's export outputs (visibility is not exported)."""
        return self.pose_head.export_outputs(
            outputs[0], None if flip_outputs is None else flip_outputs[0], flip_indices, test_cfg
        )

    def export_decode(self, outputs: tuple[Tensor, ...]) -> tuple[Tensor, Tensor] | None:
        """The wrapped head's export decoding."""
        return self.pose_head.export_decode(outputs)
