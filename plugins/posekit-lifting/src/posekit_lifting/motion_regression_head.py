"""MotionRegressionHead: per-frame 3D keypoints from DSTFormer's features (MotionBERT's head).

Dimensions: B sequences, F frames, K keypoints, E feature channels, C output coordinates (3).
``pre_logits.fc`` (E -> embedding) + tanh, then ``fc`` (embedding -> C), per token:
``(B, F, K, E) -> (B, F, K, C)``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from posekit.nn import init_linears_and_norms
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, PoseSample, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig


def flip_coordinates(coords: Tensor, flip_indices: list[int], shift_coords: bool) -> Tensor:
    """Mirror normalized coordinates ``(..., K, C)`` about x = 0.5 (x -> -x with ``shift_coords``) and swap sides."""
    if len(flip_indices) != coords.shape[-2]:
        raise ValueError(f"flip_indices has {len(flip_indices)} entries for {coords.shape[-2]} keypoints")
    coords = coords.clone()
    coords[..., 0] = 1.0 - coords[..., 0] - (1.0 if shift_coords else 0.0)
    return coords[..., flip_indices, :]


def _camera_sizes(samples: list[PoseSample]) -> tuple[np.ndarray, np.ndarray]:
    """Image widths and heights ``(B, 1)`` from the samples' cameras, or empty arrays when the first has none."""
    if samples[0].camera_param is None:
        return np.zeros((len(samples), 0), np.float32), np.zeros((len(samples), 0), np.float32)
    w = np.stack([np.array([s.camera_param["w"]]) for s in samples])  # type: ignore[index]
    h = np.stack([np.array([s.camera_param["h"]]) for s in samples])  # type: ignore[index]
    return w, h


def _factors(batch: PoseBatch) -> np.ndarray | None:
    """The codec's per-frame ``factor`` of each sample ``(B, T, 1)`` (``batch.targets``), or None without one."""
    factor = batch.targets.get("factor")
    if factor is None:
        return None
    factor = np.stack([np.asarray(f) for f in factor]) if isinstance(factor, list) else factor.cpu().numpy()
    return factor[..., None] if factor.ndim == 2 else factor


class MotionRegressionHead(BaseHead):
    """Regress per-frame 3D keypoints (MMPose's ``MotionRegressionHead``).

    Args:
        in_channels: E, feature channels. Default 256.
        out_channels: C, output coordinates. Default 3.
        embedding_size: width of the tanh embedding; 0: none (``fc`` is an identity). Default 512.
        loss: loss config built through the registry. Default ``MPJPEVelocityJointLoss``
            (MMPose's default ``MSELoss`` is not a posekit lifting loss).
        decoder: the ``MotionBERTLabel`` codec ``predict`` decodes with; None: no decoding.
    """

    example_config: ClassVar[dict[str, Any]] = {
        "in_channels": 16,
        "embedding_size": 8,
        "decoder": {"type": "MotionBERTLabel", "num_keypoints": 17, "rootrel": True},
    }

    @classmethod
    def example_inputs(cls, frames: int = 4, num_keypoints: int = 17, batch_size: int = 2) -> dict[str, Any]:
        """Features ``(F, K, 16)`` and a batch of random 3D targets ``(B, F, K, 3)``."""
        rng = np.random.default_rng(0)
        targets = {
            "lifting_target_label": torch.from_numpy(rng.random((batch_size, frames, num_keypoints, 3), np.float32)),
            "lifting_target_weight": torch.ones(batch_size, frames, num_keypoints),
        }
        samples = [PoseSample(img_id=i, flip_indices=list(range(num_keypoints))) for i in range(batch_size)]
        batch = PoseBatch(inputs=torch.zeros(batch_size, frames, num_keypoints, 3), targets=targets, samples=samples)
        return {"feat_shapes": [(frames, num_keypoints, 16)], "batch": batch}

    _version = 2
    #: predicts every input frame: served in clips (``posekit_lifting.serving``)
    sequence_output: ClassVar[bool] = True

    def __init__(
        self,
        in_channels: int = 256,
        out_channels: int = 3,
        embedding_size: int = 512,
        loss: LossConfig | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.loss_module = build("loss", loss or {"type": "MPJPEVelocityJointLoss"}, where="loss")
        self.decoder = build("codec", decoder, where="decoder") if decoder is not None else None
        self.pre_logits = nn.Sequential(
            OrderedDict([("fc", nn.Linear(in_channels, embedding_size)), ("act", nn.Tanh())])
        )
        self.fc = nn.Linear(embedding_size, out_channels) if embedding_size > 0 else nn.Identity()
        init_linears_and_norms(self)

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        """``feats[-1] (B, F, K, E)`` -> coordinates ``(B, F, K, C)``."""
        return self.fc(self.pre_logits(feats[-1]))

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Loss against ``targets['lifting_target_label'] (B, F, K, C)`` weighted by ``['lifting_target_weight']``.

        Returns:
            ``loss_pose3d`` and ``mpjpe``, the mean error over keypoints with weight > 0 (no gradient).
        """
        pred = self.forward(feats)
        for key in ("lifting_target_label", "lifting_target_weight"):
            if key not in batch.targets or isinstance(batch.targets[key], list):
                raise KeyError(
                    f"MotionRegressionHead: batch.targets needs a stacked {key!r}; encode with MotionBERTLabel"
                )
        label = batch.targets["lifting_target_label"].to(pred)  # type: ignore[union-attr]
        weight = batch.targets["lifting_target_weight"].to(pred)  # type: ignore[union-attr]
        if label.shape != pred.shape or weight.shape != pred.shape[:-1]:
            raise ValueError(
                f"MotionRegressionHead: targets lifting_target_label / lifting_target_weight must be "
                f"{tuple(pred.shape)} / {tuple(pred.shape[:-1])} (the head's output), "
                f"got {tuple(label.shape)} / {tuple(weight.shape)}"
            )
        loss = self.loss_module(pred, label, weight.unsqueeze(-1))
        with torch.no_grad():
            err = (pred - label).norm(dim=-1)[weight > 0]
            mpjpe = err.mean() if err.numel() else pred.new_zeros(())
        return {"loss_pose3d": loss, "mpjpe": mpjpe}

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """Decode each sequence's 3D keypoints; ``feats`` is a ``(feats, flipped_feats)`` pair under flip test.

        The flipped prediction is mirrored back with the first sample's ``flip_indices`` and averaged in.
        Image sizes come from ``sample.camera_param`` (``w``, ``h``) and scales from ``batch.targets['factor']``
        (the codec's), when known.

        Returns:
            one :class:`InstanceData` per sample, a pose per frame: ``keypoints (F, K, C)``, ``keypoint_scores (F, K)``
            (MMPose's ``(1, F, K, C)`` without its leading 1).
        """
        if self.decoder is None:
            raise RuntimeError("MotionRegressionHead.predict needs a decoder: set the head's `decoder` config")
        if test_cfg.flip_test:
            plain, flipped = feats
            back = flip_coordinates(self.forward(flipped), batch.samples[0].flip_indices, test_cfg.shift_coords)
            coords = (self.forward(plain) + back) * 0.5
        else:
            coords = self.forward(feats)
        coords_np = coords.detach().cpu().float().numpy()
        w, h = _camera_sizes(batch.samples)
        factor = _factors(batch)
        preds = []
        for i in range(len(coords_np)):
            one = slice(i, i + 1)
            keypoints, scores = self.decoder.decode(
                coords_np[one], w[one], h[one], None if factor is None else factor[one]
            )
            preds.append(InstanceData(keypoints=keypoints[0], keypoint_scores=scores[0]))
        return preds
