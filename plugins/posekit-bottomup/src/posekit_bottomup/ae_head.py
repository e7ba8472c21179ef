"""AssociativeEmbeddingHead: keypoint heatmaps and grouping tags for bottom-up pose estimation.

Dimensions: B images, K keypoints, L tag dims, N people, feature ``(B, C, h, w)``,
heatmaps ``(B, K, H, W)`` (H = h * 2 ** len(deconv_out_channels)).

Layers and state_dict keys are MMPose's ``HeatmapHead``: ``deconv_layers`` (ConvTranspose2d,
BatchNorm2d, ReLU per layer), ``conv_layers`` (Conv2d, BatchNorm2d, ReLU), ``final_layer``
(Conv2d to ``K * (1 + L)`` channels: heatmaps first, then tags, channel ``K + l * K + k``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from posekit.codec_utils import flip_heatmaps
from posekit.nn import FinalLayerConfig, heatmap_layers, init_heatmap_layers
from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig, LossConfig
from posekit_bottomup.instances import BottomupHeadExample


def _resize(maps: Tensor, size: tuple[int, int] | None, align_corners: bool) -> Tensor:
    """Bilinear resize of ``(B, C, H, W)`` to ``size = (w, h)`` (no-op when None or equal)."""
    if size is None or tuple(maps.shape[-2:]) == (size[1], size[0]):
        return maps
    return F.interpolate(maps, size=(size[1], size[0]), mode="bilinear", align_corners=align_corners)


def stacked_target(batch: PoseBatch, key: str, like: Tensor, codec: str) -> Tensor:
    """``batch.targets[key]`` as one ``(B, ...)`` tensor on ``like``'s device and dtype; a missing key names the
    ``codec`` that writes it."""
    value = batch.targets.get(key)
    if value is None:
        raise KeyError(f"batch.targets has no {key!r} (keys: {sorted(batch.targets)}); encode with {codec}")
    return (torch.stack([torch.as_tensor(v) for v in value]) if isinstance(value, list) else value).to(like)


def heatmap_mask(batch: PoseBatch, like: Tensor, codec: str) -> Tensor | None:
    """The optional ``batch.targets['heatmap_mask']`` as ``(B, 1, H, W)`` (a ``(B, H, W)`` one gains the channel)."""
    if batch.targets.get("heatmap_mask") is None:
        return None
    mask = stacked_target(batch, "heatmap_mask", like, codec)
    return mask.unsqueeze(1) if mask.ndim == 3 else mask


class AssociativeEmbeddingHead(BottomupHeadExample, BaseHead):
    """Heatmap head that also predicts associative-embedding tags (MMPose's ``AssociativeEmbeddingHead``).

    Args:
        in_channels: channels of the last feature map.
        num_keypoints: K.
        tag_dim: L, tag dims per keypoint. Default 1.
        tag_per_keypoint: one tag map per keypoint (else L maps shared by all keypoints). Default True.
        deconv_out_channels: channels of each stride-2 deconv layer; None or empty: no deconv. Default (256,) * 3.
        deconv_kernel_sizes: kernel of each deconv layer (2, 3 or 4). Default (4, 4, 4).
        conv_out_channels: channels of each conv layer after the deconvs; None: none.
        conv_kernel_sizes: kernel of each conv layer.
        final_layer: the last conv (see :class:`FinalLayerConfig`); None: no final layer.
        keypoint_loss: heatmap loss config, built through the registry. Default ``KeypointMSELoss``.
        tag_loss: tag loss config. Default ``AssociativeEmbeddingLoss``.
        decoder: codec config (``AssociativeEmbedding``) used by ``predict``; None: no decoding.
    """

    #: a small working instance and the features it takes (``posekit plugins --check``)
    example_config = {
        "in_channels": 8,
        "num_keypoints": 17,
        "deconv_out_channels": None,
        "decoder": {"type": "AssociativeEmbedding", "input_size": (64, 64), "heatmap_size": (16, 16)},
    }

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int,
        tag_dim: int = 1,
        tag_per_keypoint: bool = True,
        deconv_out_channels: tuple[int, ...] | None = (256, 256, 256),
        deconv_kernel_sizes: tuple[int, ...] | None = (4, 4, 4),
        conv_out_channels: tuple[int, ...] | None = None,
        conv_kernel_sizes: tuple[int, ...] | None = None,
        final_layer: FinalLayerConfig | None = FinalLayerConfig(),
        keypoint_loss: LossConfig | None = None,
        tag_loss: LossConfig | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.tag_dim = tag_dim
        self.tag_per_keypoint = tag_per_keypoint
        self.out_channels = num_keypoints * (1 + tag_dim) if tag_per_keypoint else num_keypoints + tag_dim
        deconv, conv = (deconv_out_channels, deconv_kernel_sizes), (conv_out_channels, conv_kernel_sizes)
        layers = heatmap_layers(in_channels, self.out_channels, deconv, conv, final_layer)
        self.deconv_layers, self.conv_layers, self.final_layer = layers
        self.keypoint_loss = build("loss", keypoint_loss or {"type": "KeypointMSELoss"}, where="keypoint_loss")
        self.tag_loss = build("loss", tag_loss or {"type": "AssociativeEmbeddingLoss"}, where="tag_loss")
        self.decoder = build("codec", decoder, where="decoder") if decoder is not None else None
        self.init_weights()

    def init_weights(self) -> None:
        """Convs and deconvs from N(0, 0.001^2) with zero bias, BatchNorm to 1 / 0 (MMPose's defaults)."""
        init_heatmap_layers(self)

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        """``feats[-1] (B, C, h, w)`` -> ``heatmaps (B, K, H, W)`` and ``tags (B, L*K, H, W)`` (or ``(B, L, H, W)``)."""
        out = self.final_layer(self.conv_layers(self.deconv_layers(feats[-1])))
        return out[:, : self.num_keypoints], out[:, self.num_keypoints :]

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Heatmap loss and the tags' pull / push losses.

        Reads ``batch.targets``: ``heatmaps (B, K, H, W)``, ``keypoint_indices`` and ``keypoint_weights``
        (``(B, N, K, ...)`` or lists of per-image ``(N_i, K, ...)``) and, when present, ``heatmap_mask (B, H, W)``.
        A keypoint channel of an image is weighted by the largest weight of that keypoint over its people.

        Returns:
            ``loss_kpt``, ``loss_pull``, ``loss_push``.
        """
        pred_heatmaps, pred_tags = self.forward(feats)
        if not self.tag_per_keypoint:
            pred_tags = pred_tags.repeat(1, self.num_keypoints, 1, 1)
        gt_heatmaps = stacked_target(batch, "heatmaps", pred_heatmaps, "AssociativeEmbedding")
        if gt_heatmaps.shape != pred_heatmaps.shape:
            raise ValueError(
                f"batch.targets['heatmaps']: expected shape {tuple(pred_heatmaps.shape)} (the head's output), "
                f"got {tuple(gt_heatmaps.shape)}"
            )
        weights = batch.targets.get("keypoint_weights")
        channel_weights = None
        if weights is not None:
            channel_weights = torch.stack(
                [
                    torch.as_tensor(w).to(pred_heatmaps).amax(dim=0)
                    if len(w)
                    else pred_heatmaps.new_zeros(self.num_keypoints)
                    for w in weights
                ]
            )
        mask = heatmap_mask(batch, pred_heatmaps, "AssociativeEmbedding")
        indices = batch.targets.get("keypoint_indices")
        if indices is None:
            raise KeyError(f"batch.targets has no 'keypoint_indices' (keys: {sorted(batch.targets)})")
        loss_pull, loss_push = self.tag_loss(pred_tags, indices)
        return {
            "loss_kpt": self.keypoint_loss(pred_heatmaps, gt_heatmaps, channel_weights, mask),
            "loss_pull": loss_pull,
            "loss_push": loss_push,
        }

    def _flip_tags(self, tags: Tensor, flip_indices: Sequence[int], shift_heatmap: bool) -> Tensor:
        """Tags of a horizontally flipped input mapped back: mirror, swap symmetric keypoints, optional 1-px shift."""
        b, c, h, w = tags.shape
        tags = tags.flip(-1)
        if self.tag_per_keypoint:
            tags = tags.view(b, self.tag_dim, self.num_keypoints, h, w)[:, :, list(flip_indices)].reshape(b, c, h, w)
        if shift_heatmap:
            tags[..., 1:] = tags[..., :-1].clone()
        return tags

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """Decode every person of each image, in input-image pixels.

        With ``test_cfg.flip_test``, ``feats`` is ``(feats, flipped_feats)``: heatmaps are averaged with
        the flipped-back ones and the tags concatenated (2L tag dims), as MMPose. With
        ``restore_heatmap_size`` the maps are resized to the input image (``sample.img_shape``) first.

        Returns:
            one :class:`InstanceData` per image: ``keypoints (M, K, 2)``, ``keypoint_scores (M, K)``,
            ``instance_scores (M,)`` (and ``heatmaps (K, H, W)`` with ``output_heatmaps``).
        """
        if self.decoder is None:
            raise RuntimeError("AssociativeEmbeddingHead.predict needs a decoder: set the head's `decoder` config")
        if test_cfg.multiscale_test:
            raise NotImplementedError("AssociativeEmbeddingHead: multiscale_test is not supported")
        size = None
        if test_cfg.restore_heatmap_size:
            shapes = {tuple(s.img_shape) for s in batch.samples}
            if len(shapes) != 1:
                raise ValueError(f"restore_heatmap_size needs one img_shape per batch, got {sorted(shapes)}")
            img_h, img_w = shapes.pop()
            size = (img_w, img_h)
            if tuple(self.decoder.heatmap_size) != tuple(self.decoder.input_size):
                raise ValueError(
                    "restore_heatmap_size resizes the heatmaps to the input, so the decoder must decode at the input "
                    f"size: set the head's decoder heatmap_size to {tuple(self.decoder.input_size)}, its input_size "
                    f"(got {tuple(self.decoder.heatmap_size)}), as MMPose's configs do"
                )
        if test_cfg.flip_test:
            feats_orig, feats_flip = feats
            flip_indices = batch.samples[0].flip_indices
            if len(flip_indices) != self.num_keypoints:
                raise ValueError(
                    f"flip_test needs sample.flip_indices with {self.num_keypoints} entries, got {flip_indices}"
                )
            heatmaps, tags = self.forward(feats_orig)
            heatmaps_flip, tags_flip = self.forward(feats_flip)
            heatmaps_flip = flip_heatmaps(heatmaps_flip, flip_indices, "heatmap", test_cfg.shift_heatmap)
            tags_flip = self._flip_tags(tags_flip, flip_indices, test_cfg.shift_heatmap)
            heatmaps = (
                _resize(heatmaps, size, test_cfg.align_corners) + _resize(heatmaps_flip, size, test_cfg.align_corners)
            ) / 2
            tags = torch.cat(
                (_resize(tags, size, test_cfg.align_corners), _resize(tags_flip, size, test_cfg.align_corners)), dim=1
            )
        else:
            heatmaps, tags = self.forward(feats)
            heatmaps = _resize(heatmaps, size, test_cfg.align_corners)
            tags = _resize(tags, size, test_cfg.align_corners)
        if not self.tag_per_keypoint:
            tags = tags.repeat_interleave(self.num_keypoints, dim=1)
        heatmaps_np = heatmaps.detach().cpu().float().numpy()
        keypoints, scores, instance_scores = self.decoder.batch_decode(heatmaps_np, tags.detach().cpu().float().numpy())
        return [
            InstanceData(
                keypoints=k,
                keypoint_scores=s,
                instance_scores=i,
                heatmaps=np.ascontiguousarray(h) if test_cfg.output_heatmaps else None,
            )
            for k, s, i, h in zip(keypoints, scores, instance_scores, heatmaps_np, strict=True)
        ]
