"""MSPNHead: one heatmap predictor per unit of every stage of MSPN / RSN, each against its own target level.

Dimensions: B samples, K keypoints, S stages, U units, L target levels; features ``S * U`` maps
``(B, unit_channels, h, w)`` stage-major (a backbone's flat tuple, or MMPose's nested S lists of U);
heatmaps ``(B, K, H, W)`` with ``(H, W) = out_shape``. Targets from ``GenerateTarget(multilevel=True)``
with L codecs: ``heatmaps (B, L, K, H, W)``, ``keypoint_weights (B, L, 1, K)``; unit ``i`` is supervised
with level ``level_indices[i]``. A single codec's targets (``(B, K, H, W)``) serve every unit.

Layers and state_dict keys are MMPose's ``MSPNHead``: ``predict_layers.I.conv_layers.{0,1}.*`` and,
with ``use_prm``, ``predict_layers.I.prm.*`` (Pose Refine Machine).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import ConvModule, DepthwiseSeparableConvModule, NormConfig, constant_init, kaiming_init, normal_init
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import PoseBatch, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_heatmap.cpm_head import MultiStageHeatmapHead, stage_losses
from posekit_heatmap.heatmap_head import _stacked_target, heatmap_accuracy

_BN = NormConfig(type="BN")


class PRM(nn.Module):
    """Pose Refine Machine (RSN): ``x * (1 + channel attention * spatial attention)`` after a 3x3 conv.

    ``(B, K, H, W) -> (B, K, H, W)``.

    Args:
        out_channels: K.
        norm_cfg: norm config of the convs.
    """

    def __init__(self, out_channels: int, norm_cfg: NormConfig = _BN) -> None:
        super().__init__()
        k = out_channels
        self.global_pooling = nn.AdaptiveAvgPool2d((1, 1))
        self.middle_path = nn.Sequential(
            nn.Linear(k, k), nn.BatchNorm1d(k), nn.ReLU(), nn.Linear(k, k), nn.BatchNorm1d(k), nn.ReLU(), nn.Sigmoid()
        )
        self.bottom_path = nn.Sequential(
            ConvModule(k, k, 1, norm_cfg=norm_cfg, inplace=False),
            DepthwiseSeparableConvModule(k, 1, 9, padding=4, norm_cfg=norm_cfg),
            nn.Sigmoid(),
        )
        self.conv_bn_relu_prm_1 = ConvModule(k, k, 3, padding=1, norm_cfg=norm_cfg, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv_bn_relu_prm_1(x)
        channel = self.middle_path(self.global_pooling(out).flatten(1))[:, :, None, None]
        return out * (1 + channel * self.bottom_path(out))


class PredictHeatmap(nn.Module):
    """1x1 then 3x3 ConvModule to K maps, bilinear resize to ``out_shape``, optional :class:`PRM`.

    Args:
        unit_channels: input channels.
        out_channels: K.
        out_shape: ``(H, W)`` of the heatmaps.
        use_prm: refine with a :class:`PRM`.
        norm_cfg: norm config of the convs.
    """

    def __init__(
        self, unit_channels: int, out_channels: int, out_shape: tuple[int, int], use_prm: bool, norm_cfg: NormConfig
    ) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.use_prm = use_prm
        if use_prm:
            self.prm = PRM(out_channels, norm_cfg)
        self.conv_layers = nn.Sequential(
            ConvModule(unit_channels, unit_channels, 1, norm_cfg=norm_cfg, inplace=False),
            ConvModule(unit_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=None, inplace=False),
        )

    def forward(self, feature: Tensor) -> Tensor:
        out = F.interpolate(self.conv_layers(feature), size=self.out_shape, mode="bilinear", align_corners=True)
        return self.prm(out) if self.use_prm else out


class MSPNHead(MultiStageHeatmapHead):
    """Multi-stage multi-unit heatmap head of `MSPN`_ and `RSN`_.

    Args:
        num_stages: S. Default 4.
        num_units: U, units per stage. Default 4.
        out_shape: ``(H, W)`` of the heatmaps. Default (64, 48).
        unit_channels: channels of each feature. Default 256.
        out_channels: K. Default 17.
        use_prm: refine each heatmap with a Pose Refine Machine (RSN). Default False.
        norm_cfg: norm config of the convs. Default ``dict(type='BN')``.
        level_indices: S * U target levels, one per unit (stage-major). Required.
        loss: one loss config for every unit, or a tuple of S * U. Default ``KeypointMSELoss(use_target_weight=True)``.
        decoder: codec config used by ``predict`` (MMPose's configs: the last level's codec).

    .. _`MSPN`: https://arxiv.org/abs/1901.00148
    .. _`RSN`: https://arxiv.org/abs/2003.04030
    """

    example_config = {
        "num_stages": 1,
        "num_units": 2,
        "out_shape": (8, 8),
        "unit_channels": 8,
        "use_prm": True,
        "level_indices": (0, 1),
        "loss": ({"type": "KeypointMSELoss", "use_target_weight": True}, {"type": "KeypointOHKMMSELoss", "topk": 4}),
        "decoder": {"type": "MegviiHeatmap", "input_size": (32, 32), "heatmap_size": (8, 8), "kernel_size": 5},
    }
    example_inputs = {"feat_shapes": [(8, 2, 2), (8, 4, 4)]}

    def __init__(
        self,
        num_stages: int = 4,
        num_units: int = 4,
        out_shape: tuple[int, int] = (64, 48),
        unit_channels: int = 256,
        out_channels: int = 17,
        use_prm: bool = False,
        norm_cfg: NormConfig = _BN,
        level_indices: tuple[int, ...] = (),
        loss: LossConfig | tuple[LossConfig, ...] | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        BaseHead.__init__(self)
        count = num_stages * num_units
        if len(level_indices) != count:
            raise ConfigError(
                f"MSPNHead: level_indices has {len(level_indices)} entries, expected num_stages * num_units = {count}"
            )
        self.num_stages = num_stages
        self.num_units = num_units
        self.out_shape = tuple(out_shape)
        self.unit_channels = unit_channels
        self.out_channels = out_channels
        self.level_indices = tuple(level_indices)
        self.loss_module = stage_losses(loss, count, "MSPNHead")
        self.decoder = build("codec", decoder, "decoder") if decoder is not None else None
        self.predict_layers = nn.ModuleList(
            PredictHeatmap(unit_channels, out_channels, out_shape, use_prm, norm_cfg) for _ in range(count)
        )
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming-normal convs, N(0, 0.01^2) linears, unit BatchNorm2d (MMPose's ``default_init_cfg``)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, nn.Linear):
                normal_init(m, std=0.01)
            elif isinstance(m, nn.BatchNorm2d):
                constant_init(m, 1.0)

    def _flat(self, feats: Sequence[Tensor] | Sequence[Sequence[Tensor]]) -> list[Tensor]:
        flat = [f for stage in feats for f in stage] if feats and not isinstance(feats[0], Tensor) else list(feats)
        if len(flat) != len(self.predict_layers):
            raise ValueError(
                f"MSPNHead: got {len(flat)} feature maps, expected num_stages * num_units = {len(self.predict_layers)}"
            )
        for i, f in enumerate(flat):
            if f.shape[1] != self.unit_channels:
                raise ValueError(
                    f"MSPNHead: feature {i} has {f.shape[1]} channels, expected unit_channels={self.unit_channels}"
                )
        return flat  # type: ignore[return-value]

    def forward(self, feats: Sequence[Tensor] | Sequence[Sequence[Tensor]]) -> list[Tensor]:  # type: ignore[override]
        """S * U features (flat stage-major, or S lists of U) -> S * U heatmaps ``(B, K, H, W)``."""
        return [layer(f) for layer, f in zip(self.predict_layers, self._flat(feats), strict=True)]

    def loss(self, feats: Sequence[Tensor], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Sum over units of each unit's loss against its target level.

        Returns:
            ``loss_kpt`` and, with ``train_cfg.compute_acc``, ``acc_pose`` (PCK@0.05 of the last unit
            against its level, over the keypoints weighted in the last level, as MMPose's).
        """
        preds = self.forward(feats)
        gt = _stacked_target(batch, "heatmaps", preds[-1])
        weights = _stacked_target(batch, "keypoint_weights", preds[-1])
        if gt.ndim == 4:  # one codec: a single level serves every unit
            gt, weights = gt[:, None], weights[:, None]
        levels = gt.shape[1]
        if levels > 1 and max(self.level_indices) >= levels:
            raise ValueError(
                f"MSPNHead: level_indices reach level {max(self.level_indices)}, but the targets have {levels} "
                "levels (one per codec of GenerateTarget(multilevel=True))"
            )
        if gt.shape[2:] != preds[-1].shape[1:]:
            raise ValueError(
                f"batch.targets['heatmaps']: expected levels of shape {tuple(preds[-1].shape[1:])} (MSPNHead's "
                f"output), got {tuple(gt.shape[2:])}"
            )
        total = preds[-1].new_zeros(())
        for i, pred in enumerate(preds):
            level = self.level_indices[i] if levels > 1 else 0
            total = total + self.loss_fn(i)(pred, gt[:, level], weights[:, level].flatten(0, 1))
        losses = {"loss_kpt": total}
        if train_cfg.compute_acc:
            losses["acc_pose"] = heatmap_accuracy(preds[-1], gt[:, level], weights[:, -1].flatten(0, 1))
        return losses
