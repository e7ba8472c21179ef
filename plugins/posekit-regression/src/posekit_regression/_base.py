"""What the regression heads share: targets, PCK on normalized coordinates, flip test and decoding.

Dimensions: B samples, N = 1 instance per sample, K keypoints; coordinates normalized by the
input size (``x / w``, ``y / h``), with optional sigmas ``(B, K, 4)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from posekit.codec_utils import flip_coordinates
from posekit.metrics.functional import keypoint_pck_accuracy
from posekit.nn import normal_init
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg
from posekit_regression.integral_regression_label import IntegralRegressionLabel
from posekit_regression.regression_label import RegressionLabel


def coordinate_accuracy(pred: Tensor, gt: Tensor, weights: Tensor) -> Tensor:
    """PCK@0.05 of normalized coordinates ``(N, K, 2)`` over keypoints with a positive weight ``(N, K)``."""
    _, avg_acc, _ = keypoint_pck_accuracy(
        pred.detach().cpu().float().numpy(),
        gt.detach().cpu().float().numpy(),
        weights.detach().cpu().float().numpy() > 0,
        0.05,
        np.ones((pred.size(0), 2), dtype=np.float32),
    )
    return torch.tensor(avg_acc, device=pred.device)


class RegressionHeadBase(BaseHead):
    """Flip test, decoding and export of coordinate heads; subclasses implement ``forward``."""

    def coordinates_of(self, outputs: Any) -> Tensor:
        """``forward``'s outputs -> normalized coordinates ``(B, K, D)`` to decode (sigmas squashed to [0, 1]).

        Default: the outputs (the first of a tuple).
        """
        return outputs if isinstance(outputs, Tensor) else outputs[0]

    num_joints: int

    def _linear(self, in_channels: int, num_joints: int, per_joint: int, loss: Mapping[str, Any], decoder: Any) -> None:
        """``fc``: the pooled feature ``(B, C)`` to ``per_joint`` values per keypoint; the loss and the codec."""
        self.in_channels = in_channels
        self.num_joints = num_joints
        self.fc = nn.Linear(in_channels, num_joints * per_joint)
        self.loss_module = build("loss", loss, "loss")
        self.decoder = build("codec", decoder, "decoder") if decoder is not None else None

    def _fc_forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        """``feats[-1] (B, C, ...)`` -> ``fc``'s output ``(B, K, per_joint)``."""
        return self.fc(torch.flatten(feats[-1], 1)).reshape(
            -1, self.num_joints, self.fc.out_features // self.num_joints
        )

    def init_weights(self) -> None:
        """Every linear layer from N(0, 0.01^2) with zero bias (MMPose's init_cfg)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                normal_init(m, std=0.01)

    def coordinates(self, feats: tuple[Tensor, ...]) -> Tensor:
        """Normalized coordinates ``(B, K, D)`` of ``feats``."""
        return self.coordinates_of(self.forward(feats))

    def flipped_coordinates(self, feats: tuple[Tensor, ...], batch: PoseBatch, test_cfg: TestCfg) -> Tensor:
        """Coordinates of a horizontally flipped input, mapped back (MMPose's ``flip_coordinates``)."""
        sample = batch.samples[0]
        return flip_coordinates(self.coordinates(feats), sample.flip_indices, test_cfg.shift_coords, sample.input_size)

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """Decode each sample's coordinates into keypoints in input-image pixels.

        With ``test_cfg.flip_test``, ``feats`` is ``(feats, flipped_feats)``; the flipped coordinates
        are mapped back with ``batch.samples[0].flip_indices`` and ``input_size`` (shifted by one
        input pixel with ``shift_coords``) and averaged.

        Returns:
            one :class:`InstanceData` per sample: ``keypoints (1, K, 2)`` and ``keypoint_scores (1, K)``.
        """
        if self.decoder is None:
            raise RuntimeError(f"{type(self).__name__}.predict needs a decoder: set the head's `decoder` config")
        if test_cfg.flip_test:
            feats_orig, feats_flip = feats
            coords = (self.coordinates(feats_orig) + self.flipped_coordinates(feats_flip, batch, test_cfg)) * 0.5
        else:
            coords = self.coordinates(feats)
        decoded = self.decoder.batch_decode(coords.detach().cpu().float().numpy()[:, None])
        return [InstanceData(keypoints=k, keypoint_scores=s) for k, s in decoded]

    def export_outputs(
        self, outputs: Any, flip_outputs: Any | None, flip_indices: Sequence[int], test_cfg: TestCfg
    ) -> tuple[Tensor]:
        """Coordinates ``(B, 1, K, D)`` as the codec's ``batch_decode`` takes them, the flipped ones
        mapped back (shifted with ``shift_coords``) and averaged in as ``predict`` does."""
        coords = self.coordinates_of(outputs)
        if flip_outputs is not None:
            size = tuple(int(v) for v in self.decoder.input_size)
            back = flip_coordinates(self.coordinates_of(flip_outputs), flip_indices, test_cfg.shift_coords, size)
            coords = (coords + back) * 0.5
        return (coords[:, None],)

    def export_decode(self, outputs: tuple[Tensor, ...]) -> tuple[Tensor, Tensor] | None:
        """Coordinates times the input size; scores ``mean(1 - sigma)`` with sigmas, else ones, as
        :class:`RegressionLabel` decodes (also inside :class:`IntegralRegressionLabel`); None for other codecs."""
        if not isinstance(self.decoder, (RegressionLabel, IntegralRegressionLabel)):
            return None
        coords = outputs[0][:, 0]
        keypoints = coords[..., :2] * torch.tensor(self.decoder.input_size, dtype=coords.dtype)
        if coords.shape[-1] == 4:
            return keypoints, (1 - coords[..., 2:4]).mean(dim=-1)
        return keypoints, torch.ones_like(coords[..., 0])
