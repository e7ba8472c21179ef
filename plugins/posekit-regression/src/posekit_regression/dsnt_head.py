"""DSNTHead: an IntegralRegressionHead supervised on its coordinates and on its heatmaps (DSNT).

Dimensions as :class:`~posekit_regression.integral_regression_head.IntegralRegressionHead`:
coordinates ``(B, K, 2)`` normalized to [0, 1), softmax heatmaps ``(B, K, H, W)``. Targets from
``IntegralRegressionLabel``: ``keypoint_labels (B, 1, K, 2)``, ``heatmaps (B, K, H, W)``,
``keypoint_weights (B, 1, K)``. State_dict keys are MMPose's ``DSNTHead``'s (those of
``IntegralRegressionHead``).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from posekit.structures import PoseBatch, TrainCfg
from posekit.types import LossConfig
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
        lambda_t: the epoch (0-based) from which only the coordinate loss is kept; -1 (default): never.
            The trainer's ``dsnt_epoch`` hook tells the head the epoch.
        loss: a two-loss ``MultipleLossWrapper`` (coordinates, heatmaps). Default SmoothL1Loss + JSDiscretLoss.
        (others): as :class:`~posekit_regression.integral_regression_head.IntegralRegressionHead`.

    .. _`DSNT`: https://arxiv.org/abs/1801.07372
    """

    example_config = {**IntegralRegressionHead.example_config, "lambda_t": 2}
    example_inputs = IntegralRegressionHead.example_inputs

    def __init__(self, lambda_t: int = -1, loss: LossConfig | None = None, **kwargs: Any) -> None:
        super().__init__(loss=loss or _LOSS, **kwargs)
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
