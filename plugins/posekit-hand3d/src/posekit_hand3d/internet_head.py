"""InterNet's head (InterHand2.6M, Moon et al. 2020): 3D heatmaps per hand, relative root depth, hand type.

Dimensions: B batch, C feature channels, K keypoints (21 a hand, 42 for both), D depth bins,
H x W heatmap pixels. State-dict keys are MMPose's: ``right_hand_head.*`` / ``left_hand_head.*``
(``deconv_layers``, ``final_layer``), ``root_head.fc.*``, ``hand_type_head.fc.*``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.codec_utils import flip_heatmaps
from posekit.nn import FinalLayerConfig, HeatmapTrunk
from posekit.nn.init import normal_init
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig


class Heatmap3DCfg(BaseModel):
    """MMPose's ``keypoint_head_cfg``: one hand's 3D heatmap branch.

    Args:
        in_channels: C of the last feature map.
        out_channels: keypoints of one hand times ``depth_size``.
        depth_size: D, the depth bins. Default 64.
        deconv_out_channels: channels of each stride-2 deconv. Default (256, 256, 256).
        deconv_kernel_sizes: kernel of each deconv. Default (4, 4, 4).
        final_layer: the last conv. Default 1x1.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    in_channels: int
    out_channels: int
    depth_size: int = 64
    deconv_out_channels: tuple[int, ...] | None = (256, 256, 256)
    deconv_kernel_sizes: tuple[int, ...] | None = (4, 4, 4)
    final_layer: FinalLayerConfig = FinalLayerConfig()


class FCBranchCfg(BaseModel):
    """MMPose's ``root_head_cfg`` (``heatmap_size`` bins) or ``hand_type_head_cfg`` (``num_labels`` logits).

    Args:
        in_channels: C of the pooled feature. Default 2048.
        hidden_dims: widths of the hidden linear layers. Default (512,).
        heatmap_size: the root head's 1D heatmap bins (root head only). Default 64.
        num_labels: the hand-type head's labels (hand-type head only). Default 2.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    in_channels: int = 2048
    hidden_dims: tuple[int, ...] = (512,)
    heatmap_size: int = 64
    num_labels: int = 2


def linear_layers(dims: tuple[int, ...]) -> nn.Sequential:
    """Linear layers ``dims[0] -> ... -> dims[-1]`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Heatmap3DHead(HeatmapTrunk):
    """One hand's branch: SimpleBaseline deconvs and a final conv, channels split into depth bins.

    ``(B, C, h, w)`` -> ``(B, out_channels / D, D, H, W)``.
    """

    def __init__(self, cfg: Heatmap3DCfg) -> None:
        if cfg.out_channels % cfg.depth_size:
            raise ValueError(
                f"keypoint_head_cfg: out_channels ({cfg.out_channels}) must be a multiple of depth_size "
                f"({cfg.depth_size})"
            )
        deconv = (cfg.deconv_out_channels, cfg.deconv_kernel_sizes)
        super().__init__(cfg.in_channels, cfg.out_channels, deconv, final_layer=cfg.final_layer)
        self.depth_size = cfg.depth_size

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """``(B, C, h, w)`` -> ``(B, K, D, H, W)``."""
        maps = super().forward((x,))
        b, c, h, w = maps.shape
        return maps.reshape(b, c // self.depth_size, self.depth_size, h, w)


class Heatmap1DHead(nn.Module):
    """Relative root depth: linear layers to a 1D heatmap, then its soft-argmax ``(B, C) -> (B, 1)`` (bins)."""

    def __init__(self, cfg: FCBranchCfg) -> None:
        super().__init__()
        self.heatmap_size = cfg.heatmap_size
        self.fc = linear_layers((cfg.in_channels, *cfg.hidden_dims, cfg.heatmap_size))
        for m in self.fc.modules():
            if isinstance(m, nn.Linear):
                normal_init(m, std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C)`` -> expected bin ``(B, 1)``."""
        prob = F.softmax(self.fc(x), 1)
        bins = torch.arange(self.heatmap_size, dtype=prob.dtype, device=prob.device)
        return (prob * bins[None]).sum(dim=1).view(-1, 1)


class MultilabelClassificationHead(nn.Module):
    """Hand type: linear layers to ``num_labels`` logits, ``(B, C) -> (B, num_labels)``."""

    def __init__(self, cfg: FCBranchCfg) -> None:
        super().__init__()
        self.fc = linear_layers((cfg.in_channels, *cfg.hidden_dims, cfg.num_labels))
        for m in self.fc.modules():
            if isinstance(m, nn.Linear):
                normal_init(m, std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C)`` -> logits ``(B, num_labels)``."""
        return self.fc(x)


def multilabel_accuracy(pred: Tensor, gt: Tensor, mask: Tensor, thr: float = 0.5) -> Tensor:
    """MMPose's multi-label accuracy: samples with every label valid, right when every label is.

    Args:
        pred: ``(B, L)`` logits; gt: ``(B, L)`` labels in {0, 1}; mask: ``(B, L)`` or ``(B,)`` validity.
    """
    valid = (mask > 0).reshape(len(mask), -1).all(dim=1)
    if not valid.any():
        return pred.new_zeros(())
    right = ((pred[valid] - thr) * (gt[valid] - thr) > 0).all(dim=1)
    return right.float().mean()


class InternetHead(BaseHead):
    """InterNet's head: 3D heatmaps of the right and left hands, the left root's relative depth and the hand type.

    ``forward(feats)`` takes the last map ``(B, C, h, w)`` and returns ``[heatmaps (B, K, D, H, W),
    root_depth (B, 1), hand_type (B, 2)]`` (K = both hands' keypoints, right hand first); the root
    and hand-type branches read the globally pooled feature.

    Args:
        keypoint_head_cfg: each hand's 3D heatmap branch (:class:`Heatmap3DCfg`).
        root_head_cfg: the relative root-depth branch (:class:`FCBranchCfg`).
        hand_type_head_cfg: the hand-type branch (:class:`FCBranchCfg`).
        loss: keypoint loss. Default ``KeypointMSELoss(use_target_weight=True)``.
        loss_root_depth: root-depth loss. Default ``L1Loss(use_target_weight=True)``.
        loss_hand_type: hand-type loss. Default ``BCELoss(use_target_weight=True)``.
        decoder: the codec (``Hand3DHeatmap``) ``predict`` decodes with.
    """

    example_config: ClassVar[dict[str, Any]] = {
        "keypoint_head_cfg": {
            "in_channels": 16,
            "out_channels": 21 * 8,
            "depth_size": 8,
            "deconv_out_channels": (8,),
            "deconv_kernel_sizes": (4,),
        },
        "root_head_cfg": {"in_channels": 16, "heatmap_size": 8, "hidden_dims": (8,)},
        "hand_type_head_cfg": {"in_channels": 16, "num_labels": 2, "hidden_dims": (8,)},
        "decoder": {
            "type": "Hand3DHeatmap",
            "image_size": (32, 32),
            "heatmap_size": (8, 8, 8),
            "root_heatmap_size": 8,
            "heatmap_size_root": 8,
            "depth_size": 8,
            "sigma": 1.0,
        },
    }

    example_inputs = {"feat_shapes": [(16, 4, 4)], "num_keypoints": 42}

    def __init__(
        self,
        keypoint_head_cfg: Heatmap3DCfg,
        root_head_cfg: FCBranchCfg,
        hand_type_head_cfg: FCBranchCfg,
        loss: LossConfig | None = None,
        loss_root_depth: LossConfig | None = None,
        loss_hand_type: LossConfig | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        super().__init__()
        kcfg = Heatmap3DCfg.model_validate(keypoint_head_cfg)
        self.right_hand_head = Heatmap3DHead(kcfg)
        self.left_hand_head = Heatmap3DHead(kcfg)
        self.root_head = Heatmap1DHead(FCBranchCfg.model_validate(root_head_cfg))
        self.hand_type_head = MultilabelClassificationHead(FCBranchCfg.model_validate(hand_type_head_cfg))
        self.loss_module = build("loss", loss or {"type": "KeypointMSELoss", "use_target_weight": True}, "loss")
        self.root_loss_module = build(
            "loss", loss_root_depth or {"type": "L1Loss", "use_target_weight": True}, "loss_root_depth"
        )
        self.hand_loss_module = build(
            "loss", loss_hand_type or {"type": "BCELoss", "use_target_weight": True}, "loss_hand_type"
        )
        self.decoder = build("codec", decoder, "decoder") if decoder is not None else None

    def forward(self, feats: tuple[Tensor, ...]) -> list[Tensor]:
        """``feats[-1] (B, C, h, w)`` -> ``[heatmaps (B, K, D, H, W), root_depth (B, 1), hand_type (B, 2)]``."""
        x = feats[-1]
        heatmaps = torch.cat([self.right_hand_head(x), self.left_hand_head(x)], dim=1)
        pooled = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return [heatmaps, self.root_head(pooled), self.hand_type_head(pooled)]

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Losses against the codec's targets: ``heatmaps (B, K * D, H, W)`` weighted by ``keypoint_weights``,
        ``root_depth (B, 1)`` by ``root_depth_weight``, ``type (B, 1, 2)`` by ``type_weight (B, 1)``.

        Returns:
            ``loss_kpt``, ``loss_rel_root``, ``loss_hand_type`` and, with ``train_cfg.compute_acc``,
            ``acc_pose`` (the hand-type accuracy, as MMPose).
        """
        heatmaps, root, hand_type = self.forward(feats)
        gt_heatmaps = batch.instance_targets("heatmaps", heatmaps).reshape(heatmaps.shape)
        weights = batch.instance_targets("keypoint_weights", heatmaps)
        gt_root = batch.instance_targets("root_depth", root).reshape(root.shape)
        root_weight = batch.instance_targets("root_depth_weight", root).reshape(root.shape)
        gt_type = batch.instance_targets("type", hand_type).reshape(hand_type.shape)
        type_weight = batch.instance_targets("type_weight", hand_type).reshape(len(hand_type), -1)
        losses = {
            "loss_kpt": self.loss_module(heatmaps, gt_heatmaps, weights),
            "loss_rel_root": self.root_loss_module(root, gt_root, root_weight),
            "loss_hand_type": self.hand_loss_module(hand_type, gt_type, type_weight),
        }
        if train_cfg.compute_acc:
            losses["acc_pose"] = multilabel_accuracy(hand_type.detach(), gt_type, type_weight)
        return losses

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """One :class:`InstanceData` per sample: ``keypoints (1, K, 3)`` (x, y input pixels; z root-relative
        mm), ``keypoint_scores (1, K)``, and in ``extra`` ``rel_root_depth (1,)`` (mm) and ``hand_type (1, 2)``.

        Under ``test_cfg.flip_test`` the flipped input's heatmaps are flipped back (hands swapped by the
        flip indices), its root depth negated and its hand-type logits swapped, then averaged in.
        MMPose 1.3.2 swaps the *unflipped* logits there (a slip); here the flipped ones are used.
        """
        if test_cfg.flip_test:
            plain, flipped = (self.forward(f) for f in feats)
            b, k, d, h, w = flipped[0].shape
            back = flip_heatmaps(
                flipped[0].reshape(b, k, d * h, w),
                batch.samples[0].flip_indices,
                test_cfg.flip_mode,
                test_cfg.shift_heatmap,
            ).reshape(b, k, d, h, w)
            outputs = [(plain[0] + back) * 0.5, (plain[1] - flipped[1]) * 0.5, (plain[2] + flipped[2][:, [1, 0]]) * 0.5]
        else:
            outputs = self.forward(feats)
        if self.decoder is None:
            raise RuntimeError("InternetHead.predict needs a decoder (the head's `decoder` codec config)")
        preds = []
        for heatmaps, root, hand_type in zip(*(o.detach().cpu().numpy() for o in outputs), strict=True):
            keypoints, scores, rel_root_depth, labels = self.decoder.decode(heatmaps, root, hand_type)
            extra = {"rel_root_depth": np.asarray(rel_root_depth, np.float32), "hand_type": labels}
            preds.append(InstanceData(keypoints=keypoints, keypoint_scores=scores, extra=extra))
        return preds
