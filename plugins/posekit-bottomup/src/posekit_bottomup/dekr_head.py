"""DEKRHead: disentangled keypoint regression (DEKR) for bottom-up pose estimation.

Geng et al., "Bottom-up human pose estimation via disentangled keypoint regression" (CVPR 2021),
https://arxiv.org/abs/2104.02300.

Dimensions: B images, C feature channels, K keypoints, F = K * ``num_displacement_filters_per_keypoint``,
M people, feature map ``(B, C, H, W)`` = heatmap size. A heatmap branch predicts keypoint and root
heatmaps ``(B, K + 1, H, W)`` (root last); a displacement branch, one group of filters a keypoint
with adaptive (deformable) convolutions, predicts each pixel's displacement to every keypoint
``(B, 2K, H, W)``. The ``SPR`` codec decodes people at the root peaks; an optional rescore net
(``rescore_cfg``) re-weights them by a predicted OKS, and a nearby-joints NMS drops duplicates.

state_dict keys are MMPose's: ``heatmap_conv_layers.{0.conv,0.bn,1.conv1,...,2}``,
``displacement_conv_layers.{0,1,2,3}`` (1 and 2: ``regular_matrix``, ``transform_matrix_conv``,
``adapt_conv``, ``norm``), ``rescore_net.{l1,l2,l3}``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.codec_utils import flip_heatmaps
from posekit.nn import ConvModule, PretrainedInit, init_heatmap_layers, load_pretrained
from posekit.nn.resblocks import BasicBlock
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, PoseSample, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_bottomup.ae_head import heatmap_mask, stacked_target
from posekit_bottomup.deform_conv import DeformConv2d
from posekit_bottomup.instances import BottomupHeadExample


class _AdaptiveActivationBlock(nn.Module):
    """A 3x3 deformable conv whose offsets are a per-pixel affine map of the regular grid, BN, residual ReLU."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.groups = groups
        grid = torch.tensor([[-1, -1, -1, 0, 0, 0, 1, 1, 1], [-1, 0, 1, -1, 0, 1, -1, 0, 1], [1] * 9])
        self.register_buffer("regular_matrix", grid.float())
        self.transform_matrix_conv = nn.Conv2d(channels, 6 * groups, 3, padding=1, groups=groups)
        self.adapt_conv = DeformConv2d(channels, channels, 3, padding=1, groups=groups, deform_groups=groups)
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        affine = self.transform_matrix_conv(x).permute(0, 2, 3, 1).reshape(b, h, w, self.groups, 2, 3)
        offset = torch.matmul(affine, self.regular_matrix).transpose(4, 5).reshape(b, h, w, self.groups * 18)
        return self.act(self.norm(self.adapt_conv(x, offset.permute(0, 3, 1, 2).contiguous())) + x)


class RescoreConfig(BaseModel):
    """``rescore_cfg``: the rescore net's input width, the two skeleton links whose mean length
    normalizes the pose, and its weights (``init_cfg``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    in_channels: int
    norm_indexes: tuple[int, int]
    init_cfg: PretrainedInit | None = None


class RescoreNet(nn.Module):
    """An MLP predicting each person's OKS from its keypoints, scores and skeleton link vectors.

    ``forward(keypoints (M, K, 2), keypoint_scores (M, K), skeleton [(a, b), ...]) -> (M,)``.
    """

    def __init__(self, in_channels: int, norm_indexes: tuple[int, int], hidden: int = 256) -> None:
        super().__init__()
        self.norm_indexes = norm_indexes
        self.l1 = nn.Linear(in_channels, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 1)
        self.relu = nn.ReLU()

    def make_feature(self, keypoints: Tensor, keypoint_scores: Tensor, skeleton: list[tuple[int, int]]) -> Tensor:
        """``(M, 3L + K)``: link vectors and lengths, normalized by the torso links' mean length, and scores."""
        first, second = zip(*skeleton, strict=True)
        links = (keypoints[:, list(first)] - keypoints[:, list(second)])[:, :, :2]
        lengths = links.norm(dim=2)
        scale = ((lengths[:, self.norm_indexes[0]] + lengths[:, self.norm_indexes[1]]) / 2).clamp(min=1)[:, None]
        return torch.cat(((links / scale[..., None]).flatten(1), lengths / scale, keypoint_scores), dim=1).float()

    def forward(self, keypoints: Tensor, keypoint_scores: Tensor, skeleton: list[tuple[int, int]]) -> Tensor:
        x = self.relu(self.l1(self.make_feature(keypoints, keypoint_scores, skeleton)))
        return self.l3(self.relu(self.l2(x))).squeeze(1)


def nearby_joints_nms(
    keypoints: np.ndarray, scores: np.ndarray, dist_thr: float, joints_thr: int | None, max_dets: int
) -> list[int]:
    """Indices of the people to keep: a person is dropped when more than ``joints_thr`` of its joints lie
    within ``dist_thr`` x the pose diagonal of a better-scoring person's (DEKR's NMS, as MMPose).

    Args:
        keypoints: ``(M, K, 2)``.
        scores: ``(M,)`` person scores.
        dist_thr: the distance threshold as a fraction of a pose's box diagonal.
        joints_thr: how many close joints make two people one; None: K // 2.
        max_dets: keep at most this many (the best scoring); <= 0: all.
    """
    m, k, _ = keypoints.shape
    joints_thr = k // 2 if joints_thr is None else joints_thr
    diagonal = np.sqrt(np.power(keypoints.max(axis=1) - keypoints.min(axis=1), 2).sum(axis=1))
    close_dist = np.tile(diagonal.reshape(m, 1, 1), (m, k)) * dist_thr
    dist = np.sqrt(np.power(keypoints[:, None] - keypoints, 2).sum(axis=3))
    close = (dist < close_dist).sum(2) > joints_thr
    ignored: set[int] = set()
    keep: list[int] = []
    for i in np.argsort(scores)[::-1]:
        if i in ignored:
            continue
        group = close[i].nonzero()[0]
        best = int(group[np.argmax(scores[group])])
        if best not in ignored:
            keep.append(best)
            ignored |= {int(j) for j in group}
    if 0 < max_dets < len(keep):
        keep = [keep[i] for i in np.argsort(scores[keep])[-1 : -max_dets - 1 : -1]]
    return keep


class DEKRHead(BottomupHeadExample, BaseHead):
    """Disentangled keypoint regression head (MMPose's ``DEKRHead``).

    Args:
        in_channels: C, channels of the last feature map.
        num_keypoints: K.
        num_heatmap_filters: width of the heatmap branch. Default 32.
        num_displacement_filters_per_keypoint: width of the displacement branch per keypoint. Default 15.
        heatmap_loss: heatmap loss. Default ``KeypointMSELoss(use_target_weight=True)``.
        displacement_loss: displacement loss. Default ``SoftWeightSmoothL1Loss(use_target_weight=True,
            supervise_empty=False)``.
        decoder: the ``SPR`` codec ``predict`` decodes with; None: no decoding.
        rescore_cfg: the rescore net (:class:`RescoreConfig`); None: none.
        max_num_people: people kept by the NMS at test time. Default 30.
    """

    example_config: ClassVar[dict[str, Any]] = {
        "in_channels": 8,
        "num_keypoints": 17,
        "num_heatmap_filters": 8,
        "num_displacement_filters_per_keypoint": 2,
        "decoder": {
            "type": "SPR",
            "input_size": (64, 64),
            "heatmap_size": (16, 16),
            "sigma": (4, 2),
            "generate_keypoint_heatmaps": True,
        },
    }
    example_margin = 12.0

    _version = 2

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int,
        num_heatmap_filters: int = 32,
        num_displacement_filters_per_keypoint: int = 15,
        heatmap_loss: LossConfig | None = None,
        displacement_loss: LossConfig | None = None,
        decoder: CodecConfig | None = None,
        rescore_cfg: RescoreConfig | None = None,
        max_num_people: int = 30,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.max_num_people = max_num_people
        bn = {"type": "BN"}
        f = num_heatmap_filters
        self.heatmap_conv_layers = nn.Sequential(
            ConvModule(in_channels, f, 1, norm_cfg=bn), BasicBlock(f, f), nn.Conv2d(f, 1 + num_keypoints, 1)
        )
        d = num_keypoints * num_displacement_filters_per_keypoint
        self.displacement_conv_layers = nn.Sequential(
            ConvModule(in_channels, d, 1, norm_cfg=bn),
            _AdaptiveActivationBlock(d, num_keypoints),
            _AdaptiveActivationBlock(d, num_keypoints),
            nn.Conv2d(d, 2 * num_keypoints, 1, groups=num_keypoints),
        )
        heatmap_loss = heatmap_loss or {"type": "KeypointMSELoss", "use_target_weight": True}
        displacement_loss = displacement_loss or {
            "type": "SoftWeightSmoothL1Loss",
            "use_target_weight": True,
            "supervise_empty": False,
        }
        self.loss_module = nn.ModuleDict(
            {
                "heatmap": build("loss", heatmap_loss, where="heatmap_loss"),
                "displacement": build("loss", displacement_loss, where="displacement_loss"),
            }
        )
        self.decoder = build("codec", decoder, where="decoder") if decoder is not None else None
        self.rescore_net = None
        self.init_weights()
        if rescore_cfg is not None:
            cfg = RescoreConfig.model_validate(rescore_cfg)
            self.rescore_net = RescoreNet(cfg.in_channels, cfg.norm_indexes)
            if cfg.init_cfg is not None:
                load_pretrained(self.rescore_net, cfg.init_cfg)

    def init_weights(self) -> None:
        """Convs from N(0, 0.001^2) with zero bias, BatchNorm to 1 / 0 (MMPose's defaults)."""
        init_heatmap_layers(self)

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """``feats[-1] (B, C, H, W)`` -> ``heatmaps (B, K + 1, H, W)``, ``displacements (B, 2K, H, W)``."""
        x = feats[-1]
        return self.heatmap_conv_layers(x), self.displacement_conv_layers(x)

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """``loss/heatmap`` and ``loss/displacement`` against the ``SPR`` targets (``heatmaps``, ``heatmap_weights``,
        ``displacements``, ``displacement_weights``, and ``heatmap_mask`` when present)."""
        heatmaps, displacements = self.forward(feats)

        def target(key: str) -> Tensor:
            return stacked_target(batch, key, heatmaps, "SPR")

        mask = heatmap_mask(batch, heatmaps, "SPR")
        return {
            "loss/heatmap": self.loss_module["heatmap"](heatmaps, target("heatmaps"), target("heatmap_weights"), mask),
            "loss/displacement": self.loss_module["displacement"](
                displacements, target("displacements"), target("displacement_weights")
            ),
        }

    def _flip_test(self, feats: Any, sample: PoseSample, test_cfg: TestCfg) -> tuple[Tensor, Tensor]:
        (heatmaps, displacements), (heatmaps_f, displacements_f) = self.forward(feats[0]), self.forward(feats[1])
        flip = list(sample.flip_indices)
        heatmaps_f = flip_heatmaps(heatmaps_f, [*flip, len(flip)], "heatmap", test_cfg.shift_heatmap)
        displacements_f = flip_heatmaps(displacements_f, flip, "offset", shift_heatmap=False)
        x_scale = sample.input_size[0] / heatmaps.shape[-1]
        displacements_f[:, ::2] += (x_scale - 1) / x_scale
        return (heatmaps + heatmaps_f) / 2.0, (displacements + displacements_f) / 2.0

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """Decode each image's people; ``feats`` is a ``(feats, flipped_feats)`` pair under flip test.

        The rescore net needs the keypoint definition's skeleton (``sample.extra['skeleton_links']``); people
        are merged by the nearby-joints NMS when ``test_cfg.nms_dist_thr > 0``.

        Returns:
            one :class:`InstanceData` per image: ``keypoints (M, K, 2)`` in input pixels, ``keypoint_scores (M, K)``
            (root score x keypoint score).
        """
        if self.decoder is None:
            raise RuntimeError("DEKRHead.predict needs a decoder: set the head's `decoder` config")
        sample0 = batch.samples[0]
        heatmaps, displacements = (
            self._flip_test(feats, sample0, test_cfg) if test_cfg.flip_test else self.forward(feats)
        )
        preds = []
        for i, sample in enumerate(batch.samples):
            keypoints, (root_scores, keypoint_scores) = self.decoder.decode(
                heatmaps[i].detach().cpu().numpy(), displacements[i].detach().cpu().numpy()
            )
            if keypoint_scores is None:
                keypoint_scores = np.repeat(root_scores[:, None], keypoints.shape[1], axis=1)
            skeleton = sample.extra.get("skeleton_links")
            if self.rescore_net is not None and skeleton and len(keypoints):
                with torch.no_grad():
                    rescored = self.rescore_net(
                        torch.from_numpy(keypoints), torch.from_numpy(keypoint_scores), skeleton
                    )
                root_scores = root_scores * torch.nan_to_num(rescored, nan=0.0).numpy()
            scores = root_scores[..., None] * keypoint_scores
            if len(keypoints) and test_cfg.nms_dist_thr > 0:
                keep = nearby_joints_nms(
                    keypoints,
                    keypoint_scores.mean(axis=1),
                    test_cfg.nms_dist_thr,
                    test_cfg.nms_joints_thr,
                    self.max_num_people,
                )
                keypoints, scores = keypoints[keep], scores[keep]
            preds.append(InstanceData(keypoints=keypoints, keypoint_scores=scores))
        return preds
