"""ED-Pose's decoder and prediction layers (MMPose's ``EDPoseDecoder`` and ``EDPoseOutHead``).

The decoder first refines Q person boxes (``num_box_decoder_layers`` layers), keeps the G best people
(``num_group``) and expands each into 1 + K queries (its box, then one per keypoint, each with a small box
around the keypoint); the remaining layers refine people and keypoints together, attention restricted to each
person's group and to the other people's box queries. Inference path: no denoising queries.

Dimensions: B batch, Q queries, G people kept, K keypoints, C channels, L levels.
"""

from __future__ import annotations

import copy
import math

import torch
from pydantic import BaseModel, ConfigDict, model_validator
from torch import Tensor, nn

from posekit_edpose.transformer import MLP, DecoderLayerConfig, DeformableDecoderLayer, inverse_sigmoid, sine_embed


class DecoderConfig(BaseModel):
    """MMPose's ``decoder`` of EDPoseHead.

    Args:
        num_layers: decoder layers (more than ``num_box_decoder_layers``).
        layer_cfg: every layer's settings.
        return_intermediate: must be True (as MMPose's). Default True.
        embed_dims: C. Default 256 (the sine encodings of boxes have 4 x 128 channels).
        query_dim: 4: queries carry boxes. Default 4.
        num_feature_levels: L. Default 1.
        num_box_decoder_layers: the layers that refine people only. Default 2.
        num_dn: denoising queries in training (MMPose's; unused here). Default 100.
        num_group: G, people kept after the box layers. Default 100.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    num_layers: int
    layer_cfg: DecoderLayerConfig = DecoderLayerConfig()
    return_intermediate: bool = True
    embed_dims: int = 256
    query_dim: int = 4
    num_feature_levels: int = 1
    num_box_decoder_layers: int = 2
    num_dn: int = 100
    num_group: int = 100

    @model_validator(mode="after")
    def _check(self) -> DecoderConfig:
        if not self.return_intermediate:
            raise ValueError("return_intermediate must be True (as MMPose's EDPoseDecoder)")
        if self.query_dim != 4:
            raise ValueError(f"query_dim must be 4 (queries carry boxes), got {self.query_dim}")
        if self.num_layers <= self.num_box_decoder_layers:
            raise ValueError(
                f"num_layers ({self.num_layers}) must exceed num_box_decoder_layers ({self.num_box_decoder_layers}): "
                "keypoints come from the layers after the box layers"
            )
        if self.embed_dims != 256:
            raise ValueError(
                f"embed_dims must be 256 (4 x 128 sine channels feed ref_point_head), got {self.embed_dims}"
            )
        return self


class OutHeadConfig(BaseModel):
    """MMPose's ``out_head`` of EDPoseHead (the prediction layers).

    Args:
        num_classes: classes scored per person (ED-Pose's configs: 2). Default 2.
        num_queries: Q, as MMPose checks its box layers' outputs (unused here). Default 900.
        cls_no_bias: class layers without bias. Default False.
        num_pred_layer: prediction layers kept (MMPose's default 6, whatever the decoder depth). Default 6.
        dec_pred_class_embed_share / dec_pred_bbox_embed_share / dec_pred_pose_embed_share: one module for all
            layers. Default False.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    num_classes: int = 2
    num_queries: int = 900
    cls_no_bias: bool = False
    num_pred_layer: int = 6
    dec_pred_class_embed_share: bool = False
    dec_pred_bbox_embed_share: bool = False
    dec_pred_pose_embed_share: bool = False


def _repeat(module: nn.Module, n: int, share: bool) -> nn.ModuleList:
    return nn.ModuleList(module if share else copy.deepcopy(module) for _ in range(n))


class EDPoseOutHead(nn.Module):
    """Per-layer class, box, keypoint and keypoint-box layers; ``forward`` turns a keypoint decoder layer's
    states into people (keys ``class_embed.<i>``, ``bbox_embed.<i>.layers.<j>``, ``pose_embed.<i>...``)."""

    def __init__(self, cfg: OutHeadConfig, num_keypoints: int, num_box_layers: int, num_group: int, dims: int):
        super().__init__()
        self.num_keypoints, self.num_box_layers, self.num_group = num_keypoints, num_box_layers, num_group
        cls = nn.Linear(dims, cfg.num_classes, bias=not cfg.cls_no_bias)
        if not cfg.cls_no_bias:
            nn.init.constant_(cls.bias, -math.log((1 - 0.01) / 0.01))
        box, pose = MLP(dims, dims, 4, 3), MLP(dims, dims, 2, 3)
        for mlp in (box, pose):
            nn.init.zeros_(mlp.layers[-1].weight)
            nn.init.zeros_(mlp.layers[-1].bias)
        n = cfg.num_pred_layer
        num_pose = n - num_box_layers + (1 if num_keypoints == 17 else 0)
        self.bbox_embed = _repeat(box, n, cfg.dec_pred_bbox_embed_share)
        self.class_embed = _repeat(cls, n, cfg.dec_pred_class_embed_share)
        self.pose_embed = _repeat(pose, num_pose, cfg.dec_pred_pose_embed_share)
        self.pose_hw_embed = _repeat(MLP(dims, dims, 2, 3), n - num_box_layers, True)

    def forward(self, hidden: Tensor, ref: Tensor, layer: int) -> tuple[Tensor, Tensor, Tensor]:
        """People from keypoint decoder layer ``layer``: its normed states ``hidden (B, G*(K+1), C)`` and its input
        references ``ref (B, G*(K+1), 4)``.

        Returns:
            ``pred_logits (B, G, num_classes)``, ``pred_boxes (B, G, 4)`` (cx, cy, w, h) and
            ``pred_keypoints (B, G, 3K)`` (``x0, y0, ..., x_{K-1}, y_{K-1}`` then K visibilities, all
            sigmoid(1) as MMPose's), fractions of the input.
        """
        b, _, c = hidden.shape
        k = self.num_keypoints
        hidden = hidden.view(b, self.num_group, k + 1, c)
        ref = ref.view(b, self.num_group, k + 1, 4)
        logits, boxes = self.people(hidden[:, :, 0], ref[:, :, 0], layer)
        xy = self.pose_embed[layer - self.num_box_layers](hidden[:, :, 1:]) + inverse_sigmoid(ref[:, :, 1:, :2])
        vis = torch.ones_like(xy[..., 0]).sigmoid()
        return logits, boxes, torch.cat((xy.sigmoid().flatten(2), vis), dim=-1)

    def people(self, hidden: Tensor, ref: Tensor, layer: int) -> tuple[Tensor, Tensor]:
        """Class logits ``(B, N, num_classes)`` and boxes ``(B, N, 4)`` of N person queries after decoder layer
        ``layer``: their normed states ``hidden (B, N, C)`` and input references ``ref (B, N, 4)``."""
        return self.class_embed[layer](hidden), (self.bbox_embed[layer](hidden) + inverse_sigmoid(ref)).sigmoid()


class EDPoseDecoder(nn.Module):
    """The decoder layers with ED-Pose's query expansion (keys ``layers.<i>``, ``norm``, ``ref_point_head``,
    ``hw``, ``keypoint_embed``; and the prediction layers it shares with :class:`EDPoseOutHead`)."""

    def __init__(self, cfg: DecoderConfig, num_keypoints: int, out_head: EDPoseOutHead) -> None:
        super().__init__()
        self.cfg, self.num_keypoints = cfg, num_keypoints
        dims = cfg.embed_dims
        self.layers = nn.ModuleList(DeformableDecoderLayer(cfg.layer_cfg) for _ in range(cfg.num_layers))
        self.norm = nn.LayerNorm(dims)
        self.ref_point_head = MLP(cfg.query_dim // 2 * dims, dims, dims, 2)
        self.hw = nn.Embedding(num_keypoints, 2)
        self.keypoint_embed = nn.Embedding(num_keypoints, dims)
        self.bbox_embed, self.class_embed = out_head.bbox_embed, out_head.class_embed
        self.pose_embed, self.pose_hw_embed = out_head.pose_embed, out_head.pose_hw_embed
        self.num_heads = cfg.layer_cfg.self_attn_cfg.num_heads

    def group_mask(self, device: torch.device) -> Tensor:
        """``(G*(K+1), G*(K+1))``, True where attention is blocked: queries see their own person's group, and
        box queries see every person's box query."""
        k1, g = self.num_keypoints + 1, self.cfg.num_group
        person = torch.arange(g * k1, device=device) // k1
        mask = person[:, None] != person[None, :]
        is_box = torch.arange(g * k1, device=device) % k1 == 0
        return mask & ~(is_box[:, None] & is_box[None, :])

    def expand(self, output: Tensor, ref: Tensor, layer: int) -> tuple[Tensor, Tensor]:
        """Keep the G best of Q people after box layer ``layer`` and add K keypoint queries to each:
        ``(B, Q, C)``, ``(B, Q, 4)`` -> ``(B, G*(K+1), C)``, ``(B, G*(K+1), 4)``."""
        c = output.shape[-1]
        top = self.class_embed[layer](output).max(-1)[0].topk(self.cfg.num_group, dim=1)[1]
        box_ref = ref.gather(1, top[..., None].expand(-1, -1, 4))
        box_out = output.gather(1, top[..., None].expand(-1, -1, c))
        kpt_out = box_out[:, :, None] + self.keypoint_embed.weight[None, None]  # (B, G, K, C)
        pose_embed = self.pose_embed[-1] if self.num_keypoints == 17 else self.pose_embed[0]
        xy = (inverse_sigmoid(box_ref[:, :, None, :2]) + pose_embed(kpt_out)).sigmoid()
        wh = self.hw.weight.sigmoid()[None, None] * box_ref[:, :, None, 2:]
        new_ref = torch.cat((box_ref[:, :, None], torch.cat((xy, wh), -1)), dim=2).flatten(1, 2)
        return torch.cat((box_out[:, :, None], kpt_out), dim=2).flatten(1, 2), new_ref

    def refine(self, output: Tensor, ref: Tensor, layer: int) -> Tensor:
        """New references of people and keypoints after keypoint layer ``layer``: ``(B, G*(K+1), 4)``."""
        b, _, c = output.shape
        k1, nb = self.num_keypoints + 1, self.cfg.num_box_decoder_layers
        output = output.view(b, -1, k1, c)
        unsig = inverse_sigmoid(ref).view(b, -1, k1, 4)
        boxes = self.bbox_embed[layer](output[:, :, 0]) + unsig[:, :, 0]
        kpt_out = output[:, :, 1:]
        xy = unsig[:, :, 1:, :2] + self.pose_embed[layer - nb](kpt_out)
        wh = unsig[:, :, 1:, 2:] + self.pose_hw_embed[layer - nb](kpt_out)
        return torch.cat((boxes[:, :, None], torch.cat((xy, wh), -1)), dim=2).sigmoid().flatten(1, 2)

    def forward(
        self,
        query: Tensor,
        memory: Tensor,
        memory_mask: Tensor,
        ref: Tensor,
        shapes: list[tuple[int, int]],
        valid_ratios: Tensor,
        last_only: bool = True,
    ) -> list[tuple[Tensor, Tensor]]:
        """``query (B, Q, C)`` with boxes ``ref (B, Q, 4)`` (cx, cy, w, h fractions) read ``memory (B, S, C)``.

        Returns:
            per layer (only the last with ``last_only``) its normed states and its input references: ``(B, Q, C)``
            and ``(B, Q, 4)`` for the box layers, ``(B, G*(K+1), C)`` and ``(B, G*(K+1), 4)`` after them.
        """
        output, attn_mask, states = query, None, []
        ratios = torch.cat([valid_ratios, valid_ratios], -1)[:, None]  # (B, 1, L, 4)
        for layer_id, layer in enumerate(self.layers):
            ref_in = ref[:, :, None] * ratios
            query_pos = self.ref_point_head(sine_embed(ref_in[:, :, 0]))
            output = layer(output, query_pos, memory, memory_mask, ref_in, shapes, attn_mask)
            if not last_only or layer_id == len(self.layers) - 1:
                states.append((self.norm(output), ref))
            if layer_id == len(self.layers) - 1:
                return states
            if layer_id < self.cfg.num_box_decoder_layers:
                new_ref = (self.bbox_embed[layer_id](output) + inverse_sigmoid(ref)).sigmoid()
                if layer_id == self.cfg.num_box_decoder_layers - 1:
                    output, new_ref = self.expand(output, new_ref, layer_id)
                    attn_mask = self.group_mask(output.device)
            else:
                new_ref = self.refine(output, ref, layer_id)
            ref = new_ref.detach()
        raise AssertionError("unreachable: DecoderConfig ensures keypoint layers")
