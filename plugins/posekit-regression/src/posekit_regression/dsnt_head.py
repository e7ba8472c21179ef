"""DSNTHead: an IntegralRegressionHead supervised on its coordinates and on its heatmaps (DSNT).

Dimensions as :class:`~posekit_regression.integral_regression_head.IntegralRegressionHead`:
coordinates ``(B, K, 2)`` normalized to [0, 1), softmax heatmaps ``(B, K, H, W)``. Targets from
``IntegralRegressionLabel``: ``keypoint_labels (B, 1, K, 2)``, ``heatmaps (B, K, H, W)``,
``keypoint_weights (B, 1, K)``. State_dict keys are MMPose's ``DSNTHead``'s (those of
``IntegralRegressionHead``).
"""

from __future__ import annotations

from torch import Tensor

from posekit.nn import FinalLayerConfig
from posekit.structures import PoseBatch, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_regression._base import coordinate_accuracy
from posekit_regression.integral_regression_head import IntegralRegressionHead

_LOSS = {
    "type": "MultipleLossWrapper",
    "losses": [
        {"type": "SmoothL1Loss", "use_target_weight": True},
        {"type": "JSDiscretLoss", "use_target_weight": True},
    ],
}


class DSNTHead(IntegralRegressionHead):
    """Top-down integral regression head of `DSNT`_ (Nibali et al. 2018): a coordinate loss plus a heatmap
    loss, the heatmap loss dropped from epoch ``lambda_t`` on.

    Args:
        in_channels: channels of the last feature map.
        in_featuremap_size: size ``(w, h)`` of the last feature map.
        num_joints: K, the number of keypoints.
        lambda_t: the epoch (0-based) from which only the coordinate loss is kept; -1 (default): never.
            The trainer's ``dsnt_epoch`` hook tells the head the epoch.
        debias: remove the soft-argmax bias (Gu et al. 2021). Default False.
        beta: softmax temperature on the maps. Default 1.0.
        deconv_out_channels: channels of each stride-2 deconv layer; None or empty: none. Default (256, 256, 256).
        deconv_kernel_sizes: kernel of each deconv layer. Default (4, 4, 4).
        conv_out_channels: channels of each conv layer after the deconvs; None: none.
        conv_kernel_sizes: kernel of each conv layer; None: none.
        final_layer: the conv to K maps (see :class:`FinalLayerConfig`); None: none.
        loss: a two-loss ``MultipleLossWrapper`` (coordinates, heatmaps). Default SmoothL1Loss + JSDiscretLoss.
        decoder: codec config used by ``predict`` (``IntegralRegressionLabel``); None: no decoding.

    .. _`DSNT`: https://arxiv.org/abs/1801.07372
    """

    example_config = {**IntegralRegressionHead.example_config, "lambda_t": 2}
    example_inputs = IntegralRegressionHead.example_inputs

    def __init__(
        self,
        in_channels: int,
        in_featuremap_size: tuple[int, int],
        num_joints: int,
        lambda_t: int = -1,
        debias: bool = False,
        beta: float = 1.0,
        deconv_out_channels: tuple[int, ...] | None = (256, 256, 256),
        deconv_kernel_sizes: tuple[int, ...] | None = (4, 4, 4),
        conv_out_channels: tuple[int, ...] | None = None,
        conv_kernel_sizes: tuple[int, ...] | None = None,
        final_layer: FinalLayerConfig | None = FinalLayerConfig(),
        loss: LossConfig | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        super().__init__(
            in_channels,
            in_featuremap_size,
            num_joints,
            debias,
            beta,
            deconv_out_channels,
            deconv_kernel_sizes,
            conv_out_channels,
            conv_kernel_sizes,
            final_layer,
            loss or _LOSS,
            decoder,
        )
        self.lambda_t = lambda_t
        #: the training epoch (0-based), set by the ``dsnt_epoch`` hook before each epoch
        self.epoch = 0

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Coordinate loss against ``keypoint_labels`` plus heatmap loss against ``heatmaps`` (only the first
        from epoch ``lambda_t`` on), both weighted by ``keypoint_weights``.

        Returns:
            ``loss_kpt`` and, with ``train_cfg.compute_acc``, ``acc_pose`` (PCK@0.05 in normalized coordinates).
        """
        coords, heatmaps = self.forward(feats)
        labels = batch.instance_targets("keypoint_labels", coords)
        weights = batch.instance_targets("keypoint_weights", coords)
        gt_heatmaps = batch.targets["heatmaps"]
        gt_heatmaps = gt_heatmaps.to(heatmaps) if isinstance(gt_heatmaps, Tensor) else None
        if gt_heatmaps is None or gt_heatmaps.shape != heatmaps.shape:
            got = tuple(gt_heatmaps.shape) if gt_heatmaps is not None else "a list"
            raise ValueError(
                f"batch.targets['heatmaps']: expected shape {tuple(heatmaps.shape)} (DSNTHead's maps), got {got}"
            )
        coord_loss, heatmap_loss = self.loss_module([coords, heatmaps], [labels, gt_heatmaps], weights)
        keep_heatmaps = self.lambda_t <= 0 or self.epoch < self.lambda_t
        losses = {"loss_kpt": coord_loss + heatmap_loss if keep_heatmaps else coord_loss}
        if train_cfg.compute_acc:
            losses["acc_pose"] = coordinate_accuracy(coords, labels, weights)
        return losses
