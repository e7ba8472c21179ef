"""CIDHead: Contextual Instance Decoupling (CID) for bottom-up pose estimation.

Wang et al., "Contextual Instance Decoupling for Robust Multi-Person Pose Estimation" (CVPR 2022).

Dimensions: B images, C feature channels, G ``gfd_channels``, K keypoints, M people, feature
map ``(B, C, H, W)`` = heatmap size. The instance information abstraction (``iia_module``) predicts
coupled heatmaps ``(B, K + 1, H, W)`` (the last channel: people's roots) and samples a feature
vector ``(M, C)`` at each root; the global feature decoupling (``gfd_module``) turns each
person's vector into that person's own keypoint heatmaps ``(M, K, H, W)`` through channel and
spatial attention over the shared features.

state_dict keys are MMPose's: ``iia_module.keypoint_root_conv``, ``gfd_module.{conv_down,
channel_attention.atn, spatial_attention.{atn,conv}, fuse_attention, heatmap_conv}``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.nn import apply_init_cfg
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_bottomup.instances import BottomupHeadExample


def smooth_heatmaps(heatmaps: Tensor, kernel: int) -> Tensor:
    """Average ``(N, K, H, W)`` with its ``kernel`` box blur."""
    return (heatmaps + F.avg_pool2d(heatmaps, kernel, 1, (kernel - 1) // 2)) / 2.0


def _trunc_sigmoid(x: Tensor, delta: float) -> Tensor:
    return torch.sigmoid(x).clamp(min=delta, max=1 - delta)


class _IIAModule(nn.Module):
    """Coupled heatmaps ``(B, K + 1, H, W)`` and the feature vectors at people's roots."""

    def __init__(self, in_channels: int, out_channels: int, clamp_delta: float = 1e-4) -> None:
        super().__init__()
        self.keypoint_root_conv = nn.Conv2d(in_channels, out_channels, 1)
        self.clamp_delta = clamp_delta

    def forward(self, feats: Tensor) -> Tensor:
        return _trunc_sigmoid(self.keypoint_root_conv(feats), self.clamp_delta)

    def find_roots(
        self, feats: Tensor, max_instances: int, score_threshold: float, blur_kernel_size: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        """People of one image (``feats (1 or 2, C, H, W)``, 2: with its flipped copy, root maps averaged).

        Returns:
            feature vectors ``(n * M, C)`` (each map's, map by map), root coordinates ``(M, 2)`` (x, y, int64)
            and scores ``(M,)``.
        """
        w = feats.shape[-1]
        roots = smooth_heatmaps(self.forward(feats)[:, -1:].mean(dim=0, keepdim=True), blur_kernel_size)
        size = (roots.shape[-1] + roots.shape[-2]) / 2.0
        kernel = 7 if size > 300 else 5 if size > 200 else 3
        peaks = F.max_pool2d(roots, kernel, 1, (kernel - 1) // 2)
        scores, index = (roots * torch.eq(peaks, roots).float()).reshape(-1).topk(max_instances, dim=0)
        keep = (scores > score_threshold).nonzero().squeeze(1)
        scores, index = scores[keep], index[keep]
        coords = torch.stack((index % w, index // w), dim=1)
        vectors = feats[:, :, coords[:, 1], coords[:, 0]].permute(0, 2, 1).reshape(-1, feats.shape[1])
        return vectors, coords, scores


class _ChannelAttention(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.atn = nn.Linear(in_channels, out_channels)

    def forward(self, global_feats: Tensor, instance_feats: Tensor) -> Tensor:
        return global_feats * self.atn(instance_feats)[:, :, None, None]


class _SpatialAttention(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.atn = nn.Linear(in_channels, out_channels)
        self.conv = nn.Conv2d(3, 1, 5, 1, 2)

    def forward(self, global_feats: Tensor, instance_feats: Tensor, instance_coords: Tensor) -> Tensor:
        m, c, h, w = global_feats.shape
        fsum = (global_feats * self.atn(instance_feats).reshape(m, c, 1, 1)).sum(dim=1, keepdim=True)
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        pixels = torch.stack((xs, ys), dim=-1).reshape(-1, 2).float().to(global_feats.device) + 0.5
        relative = (instance_coords.reshape(-1, 1, 2) - pixels.reshape(1, -1, 2)).permute(0, 2, 1) / 32.0
        mask = self.conv(torch.cat((fsum, relative.reshape(m, 2, h, w)), dim=1)).sigmoid()
        return global_feats * mask


class _GFDModule(nn.Module):
    """Per-person keypoint heatmaps ``(M, K, H, W)`` from the shared features and each person's vector."""

    def __init__(self, in_channels: int, out_channels: int, gfd_channels: int, clamp_delta: float = 1e-4) -> None:
        super().__init__()
        self.conv_down = nn.Conv2d(in_channels, gfd_channels, 1)
        self.channel_attention = _ChannelAttention(in_channels, gfd_channels)
        self.spatial_attention = _SpatialAttention(in_channels, gfd_channels)
        self.fuse_attention = nn.Conv2d(gfd_channels * 2, gfd_channels, 1)
        self.heatmap_conv = nn.Conv2d(gfd_channels, out_channels, 1)
        self.clamp_delta = clamp_delta

    def forward(
        self, feats: Tensor, instance_feats: Tensor, instance_coords: Tensor, instance_imgids: Tensor
    ) -> Tensor:
        global_feats = self.conv_down(feats)[instance_imgids]
        fused = torch.cat(
            (
                self.channel_attention(global_feats, instance_feats),
                self.spatial_attention(global_feats, instance_feats, instance_coords),
            ),
            dim=1,
        )
        return _trunc_sigmoid(self.heatmap_conv(F.relu(self.fuse_attention(fused))), self.clamp_delta)


def _targets(batch: PoseBatch, key: str) -> list[Tensor]:
    value = batch.targets.get(key)
    if value is None:
        raise KeyError(f"batch.targets has no {key!r} (keys: {sorted(batch.targets)}); encode with DecoupledHeatmap")
    return [torch.as_tensor(v) for v in value]


class CIDHead(BottomupHeadExample, BaseHead):
    """Contextual instance decoupling head (MMPose's ``CIDHead``).

    Args:
        in_channels: C, channels of the last feature map.
        gfd_channels: G, channels of the decoupling module.
        num_keypoints: K.
        prior_prob: initial heatmap probability (sets the output convs' bias). Default 0.01.
        coupled_heatmap_loss: loss of the coupled heatmaps. Default ``FocalHeatmapLoss``.
        decoupled_heatmap_loss: loss of the per-person heatmaps. Default ``FocalHeatmapLoss``.
        contrastive_loss: loss between the people's vectors of an image. Default ``InfoNCELoss``.
        max_instances: at most this many people per image at test time. Default 30.
        score_threshold: keep roots scoring above this at test time. Default 0.01.
        blur_kernel_size: box blur averaged into the heatmaps at test time. Default 3.
        decoder: the ``DecoupledHeatmap`` codec ``predict`` decodes with; None: no decoding.
    """

    example_config: ClassVar[dict[str, Any]] = {
        "in_channels": 8,
        "gfd_channels": 8,
        "num_keypoints": 17,
        "decoder": {"type": "DecoupledHeatmap", "input_size": (64, 64), "heatmap_size": (16, 16)},
    }

    _version = 2

    def __init__(
        self,
        in_channels: int,
        gfd_channels: int,
        num_keypoints: int,
        prior_prob: float = 0.01,
        coupled_heatmap_loss: LossConfig | None = None,
        decoupled_heatmap_loss: LossConfig | None = None,
        contrastive_loss: LossConfig | None = None,
        max_instances: int = 30,
        score_threshold: float = 0.01,
        blur_kernel_size: int = 3,
        decoder: CodecConfig | None = None,
        init_cfg: list[dict[str, Any]] | dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.max_instances = max_instances
        self.score_threshold = score_threshold
        self.blur_kernel_size = blur_kernel_size
        self.decoder = build("codec", decoder, where="decoder") if decoder is not None else None
        self.iia_module = _IIAModule(in_channels, num_keypoints + 1)
        self.gfd_module = _GFDModule(in_channels, num_keypoints, gfd_channels)
        self.loss_module = nn.ModuleDict(
            {
                "heatmap_coupled": build(
                    "loss", coupled_heatmap_loss or {"type": "FocalHeatmapLoss"}, where="coupled_heatmap_loss"
                ),
                "heatmap_decoupled": build(
                    "loss", decoupled_heatmap_loss or {"type": "FocalHeatmapLoss"}, where="decoupled_heatmap_loss"
                ),
                "contrastive": build("loss", contrastive_loss or {"type": "InfoNCELoss"}, where="contrastive_loss"),
            }
        )
        self.init_weights(prior_prob, self.default_init_cfg if init_cfg is None else init_cfg)

    #: MMPose's ``CIDHead.default_init_cfg``: every conv and linear from N(0, 0.001^2), zero bias
    default_init_cfg: ClassVar[list[dict[str, Any]]] = [{"type": "Normal", "layer": ["Conv2d", "Linear"], "std": 0.001}]

    def init_weights(self, prior_prob: float, init_cfg: list[dict[str, Any]] | dict[str, Any]) -> None:
        """``init_cfg`` (mmengine's weight-init dicts; ``[]`` keeps torch's defaults), then the output convs'
        bias gives ``prior_prob``."""
        apply_init_cfg(self, init_cfg)
        bias = -math.log((1 - prior_prob) / prior_prob)
        nn.init.constant_(self.iia_module.keypoint_root_conv.bias, bias)
        nn.init.constant_(self.gfd_module.heatmap_conv.bias, bias)

    def _people(self, feats: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """People of one image, ``feats (n, C, H, W)``: n = 1, or 2 with its flipped copy (mirrored back).

        Returns:
            each map's heatmaps of each person ``(n, M, K, H, W)`` (the flipped map's keypoints still
            swapped), roots ``(M, 2)`` and root scores ``(M,)``.
        """
        inst_feats, coords, scores = self.iia_module.find_roots(
            feats, self.max_instances, self.score_threshold, self.blur_kernel_size
        )
        n = len(feats)
        imgids = torch.arange(n, device=feats.device).repeat_interleave(len(coords))
        heatmaps = self.gfd_module(feats, inst_feats, coords.repeat(n, 1), imgids)
        return heatmaps.reshape(n, len(coords), *heatmaps.shape[1:]), coords, scores

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        """People's heatmaps ``(M, K, H, W)`` of the first image of ``feats[-1] (B, C, H, W)`` (as MMPose)."""
        return self._people(feats[-1][:1])[0][0]

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Coupled-heatmap, decoupled-heatmap and contrastive losses (``loss/heatmap_coupled``, ...).

        The decoupling trains on at most ``train_cfg.max_train_instances`` people of the batch (a random subset).

        Reads ``batch.targets``: ``heatmaps (B, K + 1, H, W)``, per image ``instance_heatmaps (M_i * K, H, W)``,
        ``keypoint_weights (M_i, K)``, ``instance_coords (M_i, 2)`` and, when present, ``heatmap_mask``.
        """
        x = feats[-1]
        gt = batch.targets.get("heatmaps")
        gt_heatmaps = (torch.stack(_targets(batch, "heatmaps")) if isinstance(gt, list) else gt).to(x)
        coords = [c.long() for c in _targets(batch, "instance_coords")]
        imgids = torch.cat([torch.full((len(c),), i, dtype=torch.long) for i, c in enumerate(coords)]).to(x.device)
        coords_all = torch.cat(coords).to(x.device)
        gt_inst = torch.cat(
            [h.reshape(-1, self.num_keypoints, *h.shape[1:]) for h in _targets(batch, "instance_heatmaps")]
        )
        weights = torch.cat([w.reshape(-1, self.num_keypoints) for w in _targets(batch, "keypoint_weights")]).to(x)
        pred_heatmaps = self.iia_module(x)
        inst_feats = x[imgids, :, coords_all[:, 1], coords_all[:, 0]]
        contrastive = sum(
            (self.loss_module["contrastive"](inst_feats[imgids == i]) for i in range(len(coords))), x.new_zeros(())
        ) / max(1, len(imgids))
        if 0 < train_cfg.max_train_instances < len(imgids):
            keep = torch.randperm(len(imgids), device=x.device)[: train_cfg.max_train_instances]
            coords_all, weights, gt_inst, imgids, inst_feats = (
                coords_all[keep],
                weights[keep],
                gt_inst[keep.cpu()],
                imgids[keep],
                inst_feats[keep],
            )
        mask = batch.targets.get("heatmap_mask")
        if mask is not None:
            mask = (torch.stack([torch.as_tensor(m) for m in mask]) if isinstance(mask, list) else mask).to(x)
            mask = mask.unsqueeze(1) if mask.ndim == 3 else mask
        losses = {"loss/heatmap_coupled": self.loss_module["heatmap_coupled"](pred_heatmaps, gt_heatmaps, None, mask)}
        if len(imgids):
            pred_inst = self.gfd_module(x, inst_feats, coords_all, imgids)
            losses["loss/heatmap_decoupled"] = self.loss_module["heatmap_decoupled"](pred_inst, gt_inst.to(x), weights)
            losses["loss/contrastive"] = contrastive
        return losses

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """Decode each image's people; ``feats`` is a ``(feats, flipped_feats)`` pair under flip test.

        Returns:
            one :class:`InstanceData` per image: ``keypoints (M, K, 2)`` in input pixels (heatmap pixel
            centres), ``keypoint_scores (M, K)``.
        """
        if self.decoder is None:
            raise RuntimeError("CIDHead.predict needs a decoder: set the head's `decoder` config")
        if test_cfg.flip_test:
            plain, flipped = feats[0][-1], feats[1][-1].flip(-1)  # the flipped image's features, mirrored back
        else:
            plain, flipped = feats[-1], None
        preds = []
        for i, sample in enumerate(batch.samples):
            maps = plain[i : i + 1] if flipped is None else torch.cat((plain[i : i + 1], flipped[i : i + 1]))
            heatmaps, _, scores = self._people(maps)
            if len(scores) == 0:
                k = self.num_keypoints
                preds.append(InstanceData(keypoints=np.zeros((0, k, 2), np.float32), keypoint_scores=np.zeros((0, k))))
                continue
            heatmaps = heatmaps[0] if flipped is None else (heatmaps[0] + heatmaps[1][:, sample.flip_indices]) / 2.0
            heatmaps = smooth_heatmaps(heatmaps, self.blur_kernel_size)
            keypoints, kpt_scores = self.decoder.decode(heatmaps.cpu().numpy(), scores[:, None].cpu().numpy())
            w, h = sample.input_size
            keypoints[..., 0] += w / heatmaps.shape[-1] / 2.0
            keypoints[..., 1] += h / heatmaps.shape[-2] / 2.0
            preds.append(InstanceData(keypoints=keypoints, keypoint_scores=kpt_scores))
        return preds
