"""SimCCHeadBase: loss, accuracy, flip test and decoding shared by SimCCHead and RTMCCHead.

Dimensions: B samples, N = 1 instance per sample, K keypoints, ``Wx`` / ``Wy`` SimCC bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from posekit.protocols import BaseHead
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit_simcc._layers import get_simcc_normalized, simcc_pck_accuracy
from posekit_simcc.simcc_label import SimCCLabel
from posekit_simcc.simcc_utils import flip_vectors


def decode_simcc(simcc_x: Tensor, simcc_y: Tensor, split_ratio: float) -> tuple[Tensor, Tensor]:
    """SimCC decoding in torch ops (ONNX export): argmax per axis, score = min of the two maxima.

    Args:
        simcc_x: ``(B, K, Wx)``.
        simcc_y: ``(B, K, Wy)``.
        split_ratio: bins per input pixel.

    Returns:
        ``keypoints (B, K, 2)`` in input pixels (``-1 / split_ratio`` where the score is <= 0) and
        ``scores (B, K)``, as :class:`SimCCLabel` (no DARK) decodes.
    """
    max_x, x = simcc_x.max(dim=-1)
    max_y, y = simcc_y.max(dim=-1)
    scores = torch.minimum(max_x, max_y)
    locs = torch.stack([x, y], dim=-1).float()
    locs = torch.where((scores > 0).unsqueeze(-1), locs, torch.full_like(locs, -1.0))
    return locs / split_ratio, scores


class SimCCHeadBase(BaseHead):
    """What SimCCHead and RTMCCHead share: SimCC loss and accuracy, flip test, decoding.

    Subclasses set ``simcc_split_ratio``, ``loss_module`` and ``decoder`` and implement ``forward``
    returning ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))``.
    """

    simcc_split_ratio: float
    #: sigma used to scale the 1D outputs when ``output_heatmaps`` draws them (None: no scaling)
    display_sigma: tuple[float, float] | None = None

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """KL loss against ``batch.targets['keypoint_x_labels'] (B, 1, K, Wx)``, ``keypoint_y_labels``
        and ``keypoint_weights (B, 1, K)``.

        Returns:
            ``loss_kpt`` and, with ``train_cfg.compute_acc``, ``acc_pose`` (PCK@0.05 of the SimCC maxima).
        """
        pred_x, pred_y = self.forward(feats)
        gt_x = batch.instance_targets("keypoint_x_labels", pred_x)
        gt_y = batch.instance_targets("keypoint_y_labels", pred_y)
        weights = batch.instance_targets("keypoint_weights", pred_x)
        if gt_x.shape != pred_x.shape or gt_y.shape != pred_y.shape:
            raise ValueError(
                f"batch.targets keypoint_x_labels / keypoint_y_labels: expected {tuple(pred_x.shape)} / "
                f"{tuple(pred_y.shape)} per instance (the head's output), got {tuple(gt_x.shape)} / {tuple(gt_y.shape)}"
            )
        losses = {"loss_kpt": self.loss_module((pred_x, pred_y), (gt_x, gt_y), weights)}
        if train_cfg.compute_acc:
            _, avg_acc, _ = simcc_pck_accuracy(
                (pred_x.detach().cpu().float().numpy(), pred_y.detach().cpu().float().numpy()),
                (gt_x.detach().cpu().float().numpy(), gt_y.detach().cpu().float().numpy()),
                self.simcc_split_ratio,
                weights.detach().cpu().float().numpy() > 0,
            )
            losses["acc_pose"] = torch.tensor(avg_acc, device=pred_x.device)
        return losses

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """Decode each sample's SimCC vectors into keypoints in input-image pixels.

        With ``test_cfg.flip_test``, ``feats`` is ``(feats, flipped_feats)``; the flipped vectors are
        mapped back with ``batch.samples[0].flip_indices`` (MMPose's ``flip_vectors``) and averaged.

        Returns:
            one :class:`InstanceData` per sample: ``keypoints (1, K, 2)``, ``keypoint_scores (1, K)``,
            ``keypoints_visible (1, K)`` when the codec decodes visibility, and with
            ``output_heatmaps`` ``heatmaps (K, Wy, Wx)``, the outer product of the normalised vectors,
            and those vectors as ``keypoint_x_labels (1, K, Wx)`` / ``keypoint_y_labels (1, K, Wy)`` (as MMPose).
        """
        if self.decoder is None:
            raise RuntimeError(f"{type(self).__name__}.predict needs a decoder: set the head's `decoder` config")
        if test_cfg.flip_test:
            feats_orig, feats_flip = feats
            x, y = self.forward(feats_orig)
            x_flip, y_flip = flip_vectors(*self.forward(feats_flip), batch.samples[0].flip_indices)
            x, y = (x + x_flip) * 0.5, (y + y_flip) * 0.5
        else:
            x, y = self.forward(feats)
        decoded = self.decoder.batch_decode(x.detach().cpu().float().numpy(), y.detach().cpu().float().numpy())
        heatmaps: list[Any] = [None] * len(decoded)
        x_labels: list[Any] = [None] * len(decoded)
        y_labels: list[Any] = [None] * len(decoded)
        if test_cfg.output_heatmaps:
            sx, sy = self.display_sigma or (None, None)
            x, y = get_simcc_normalized(x.detach(), sx), get_simcc_normalized(y.detach(), sy)
            heatmaps = list((y[..., :, None] * x[..., None, :]).cpu().float().numpy())
            x_labels = list(x.cpu().float().numpy()[:, None])
            y_labels = list(y.cpu().float().numpy()[:, None])
        preds = []
        for (keypoints, scores), maps, x_label, y_label in zip(decoded, heatmaps, x_labels, y_labels, strict=True):
            visible = None
            if isinstance(scores, tuple):
                scores, visible = scores
            preds.append(
                InstanceData(
                    keypoints=keypoints,
                    keypoint_scores=scores,
                    keypoints_visible=visible,
                    heatmaps=maps,
                    keypoint_x_labels=x_label,
                    keypoint_y_labels=y_label,
                )
            )
        return preds

    def export_outputs(
        self,
        outputs: tuple[Tensor, Tensor],
        flip_outputs: tuple[Tensor, Tensor] | None,
        flip_indices: Sequence[int],
        test_cfg: TestCfg,
    ) -> tuple[Tensor, Tensor]:
        """``(simcc_x, simcc_y)``, the flipped vectors mapped back and averaged in as ``predict`` does."""
        x, y = outputs
        if flip_outputs is None:
            return x, y
        x_flip, y_flip = flip_vectors(flip_outputs[0], flip_outputs[1], flip_indices)
        return (x + x_flip) * 0.5, (y + y_flip) * 0.5

    def export_decode(self, outputs: tuple[Tensor, ...]) -> tuple[Tensor, Tensor] | None:
        """:func:`decode_simcc` for a :class:`SimCCLabel` decoder without DARK; None otherwise."""
        if not isinstance(self.decoder, SimCCLabel) or self.decoder.use_dark:
            return None
        return decode_simcc(outputs[0], outputs[1], float(self.decoder.simcc_split_ratio))
