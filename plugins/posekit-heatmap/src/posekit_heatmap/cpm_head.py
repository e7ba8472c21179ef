"""CPMHead: one deconv + final-conv branch per stage of a multi-stage backbone (CPM, HourglassNet).

Dimensions: B samples, K keypoints, S stages; feature ``feats[s] (B, C, h, w)``; heatmaps
``(B, K, H, W)`` per stage with ``H = h * 2 ** len(deconv_out_channels)``.

Layers and state_dict keys are MMPose's ``CPMHead``: ``multi_deconv_layers.S.*`` (ConvTranspose2d,
BatchNorm2d, ReLU per layer, or nothing) and ``multi_final_layers.S.*`` (Conv2d, or nothing).
Every stage is supervised with the same target; ``predict`` decodes the last stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import FinalLayerConfig, deconv_layers, final_conv, init_heatmap_layers
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_heatmap.heatmap_head import HeatmapHead, _stacked_target, heatmap_accuracy

_MSE = {"type": "KeypointMSELoss", "use_target_weight": True}


def stage_losses(loss: LossConfig | tuple[LossConfig, ...] | None, count: int, head: str) -> nn.Module:
    """One loss module for every stage (or unit), or a ``ModuleList`` of ``count`` (MMPose's ``loss_module``)."""
    if isinstance(loss, (list, tuple)):
        if len(loss) != count:
            raise ConfigError(f"{head}: loss lists {len(loss)} configs, expected one per stage/unit ({count})")
        return nn.ModuleList(build("loss", c, f"loss[{i}]") for i, c in enumerate(loss))
    return build("loss", loss or _MSE, "loss")


class MultiStageHeatmapHead(HeatmapHead):
    """A heatmap head whose ``forward`` returns one heatmap per stage or unit; ``predict`` decodes the
    last one (as MMPose's multi-stage heads), with :class:`HeatmapHead`'s flip test and export."""

    loss_module: nn.Module

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:  # type: ignore[override]
        raise NotImplementedError

    def predict_heatmaps(self, feats: Sequence[Tensor]) -> Tensor:
        """The last stage's heatmaps ``(B, K, H, W)``."""
        return self.forward(feats)[-1]

    def loss_fn(self, index: int) -> nn.Module:
        """The loss of stage (or unit) ``index``: its own, or the one shared by all."""
        return self.loss_module[index] if isinstance(self.loss_module, nn.ModuleList) else self.loss_module

    def export_outputs(
        self, outputs: Any, flip_outputs: Any | None, flip_indices: Sequence[int], test_cfg: TestCfg
    ) -> tuple[Tensor]:
        """The last stage's heatmaps, the flipped ones mapped back and averaged in (as ``predict``)."""
        return super().export_outputs(
            outputs[-1], None if flip_outputs is None else flip_outputs[-1], flip_indices, test_cfg
        )


class CPMHead(MultiStageHeatmapHead):
    """Multi-stage heatmap head of `Convolutional Pose Machines`_ and `Stacked Hourglass Networks`_.

    Args:
        in_channels: channels of each stage's feature.
        out_channels: K, the number of heatmaps.
        num_stages: S, the stages (``len(feats)``).
        deconv_out_channels: channels of each stride-2 deconv layer of a branch; None: none. Default None.
        deconv_kernel_sizes: kernel of each deconv layer (2, 3 or 4). Default None.
        final_layer: each branch's last conv (see :class:`FinalLayerConfig`); None: none. Default a 1x1 conv.
        loss: one loss config for every stage, or a tuple of S. Default ``KeypointMSELoss(use_target_weight=True)``.
        decoder: codec config used by ``predict``; None: no decoding.

    .. _`Convolutional Pose Machines`: https://arxiv.org/abs/1602.00134
    .. _`Stacked Hourglass Networks`: https://arxiv.org/abs/1603.06937
    """

    example_config = {
        "in_channels": 8,
        "out_channels": 17,
        "num_stages": 2,
        "decoder": {"type": "MSRAHeatmap", "input_size": (32, 32), "heatmap_size": (8, 8), "sigma": 2.0},
    }
    example_inputs = {"feat_shapes": [(8, 8, 8), (8, 8, 8)]}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_stages: int,
        deconv_out_channels: tuple[int, ...] | None = None,
        deconv_kernel_sizes: tuple[int, ...] | None = None,
        final_layer: FinalLayerConfig | None = FinalLayerConfig(),
        loss: LossConfig | tuple[LossConfig, ...] | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        BaseHead.__init__(self)
        if deconv_out_channels and (
            deconv_kernel_sizes is None or len(deconv_kernel_sizes) != len(deconv_out_channels)
        ):
            raise ConfigError(
                f"CPMHead: deconv_out_channels {deconv_out_channels} and deconv_kernel_sizes {deconv_kernel_sizes} "
                "need the same length"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_stages = num_stages
        self.loss_module = stage_losses(loss, num_stages, "CPMHead")
        self.decoder = build("codec", decoder, "decoder") if decoder is not None else None
        stages = range(num_stages)
        if deconv_out_channels:
            kernels = deconv_kernel_sizes or ()
            self.multi_deconv_layers = nn.ModuleList(
                deconv_layers(in_channels, deconv_out_channels, kernels) for _ in stages
            )
            in_channels = deconv_out_channels[-1]
        else:
            self.multi_deconv_layers = nn.ModuleList(nn.Identity() for _ in stages)
        self.multi_final_layers = nn.ModuleList(
            final_conv(in_channels, out_channels, final_layer) or nn.Identity() for _ in stages
        )
        init_heatmap_layers(self)

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        """S features ``(B, C, h, w)`` -> S heatmaps ``(B, K, H, W)``."""
        if len(feats) != self.num_stages:
            raise ValueError(f"CPMHead: got {len(feats)} feature maps, expected num_stages={self.num_stages}")
        layers = zip(feats, self.multi_deconv_layers, self.multi_final_layers, strict=True)
        return [final(deconv(f)) for f, deconv, final in layers]

    def loss(self, feats: Sequence[Tensor], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Sum over stages of the loss against ``batch.targets['heatmaps'] (B, K, H, W)``.

        Returns:
            ``loss_kpt`` and, with ``train_cfg.compute_acc``, ``acc_pose`` (PCK@0.05 of the last stage).
        """
        preds = self.forward(feats)
        gt = _stacked_target(batch, "heatmaps", preds[-1])
        if gt.shape != preds[-1].shape:
            raise ValueError(
                f"batch.targets['heatmaps']: expected shape {tuple(preds[-1].shape)} (CPMHead's output), "
                f"got {tuple(gt.shape)}"
            )
        weights = batch.instance_targets("keypoint_weights", preds[-1])
        total = sum(self.loss_fn(i)(pred, gt, weights) for i, pred in enumerate(preds))
        losses = {"loss_kpt": total}
        if train_cfg.compute_acc:
            losses["acc_pose"] = heatmap_accuracy(preds[-1], gt, weights)
        return losses  # type: ignore[return-value]
