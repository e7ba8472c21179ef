"""Head protocol: features in; raw outputs, losses or decoded predictions out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor, nn

if TYPE_CHECKING:
    from posekit.protocols.codec import BaseKeypointCodec
    from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg


class BaseHead(nn.Module):
    """Base class of every head.

    A head owns its codec (built from its ``decoder`` config, ``self.decoder``) and
    decodes through it in ``predict``.

    - ``forward(feats)``: the raw outputs (e.g. heatmaps ``(B, K, H, W)``, or a tuple
      ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))``).
    - ``loss(feats, batch, train_cfg)``: a dict of scalar tensors; keys starting with
      ``loss`` are summed into the training objective, others (``acc_pose``) are logged.
    - ``predict(feats, batch, test_cfg)``: one :class:`InstanceData` per sample with
      ``keypoints (N, K, D)`` and ``keypoint_scores (N, K)`` in the model's *input*
      space; the estimator maps them back to the image. ``feats`` may be a pair
      ``(feats, flipped_feats)`` when ``test_cfg.flip_test`` is on.
    """

    decoder: BaseKeypointCodec | None = None
    #: the constructor argument (and attribute) holding K, the number of keypoints predicted; checked
    #: against the keypoint definition. None: the first of num_keypoints, num_joints, out_channels.
    num_keypoints_arg: ClassVar[str | None] = None

    def forward(self, feats: tuple[Tensor, ...]) -> Any:
        raise NotImplementedError

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        raise NotImplementedError

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        raise NotImplementedError
