"""EDPoseHead (`ED-Pose <https://arxiv.org/abs/2302.01593>`__: explicit box detection unifies end-to-end
multi-person pose estimation), as MMPose 1.3.2's ``edpose_head.py``, in plain torch.

Multi-level features (from ChannelMapper) go through a deformable DETR encoder; with ``as_two_stage`` the
encoder's best Q tokens become the first person queries (boxes from ``enc_out_bbox_embed``); the decoder
(:class:`~posekit_edpose.decoder.EDPoseDecoder`) refines people, keeps G of them and refines their keypoints.
State_dict keys are MMPose's (``head.encoder.layers.0.self_attn.sampling_offsets.weight``,
``head.decoder.bbox_embed.0.layers.0.weight`` shared with ``head.out_head.bbox_embed.0...``, ...).

Dimensions: B batch, L levels, S tokens of all levels, Q queries, G people kept, K keypoints, C channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig
from posekit_edpose.decoder import DecoderConfig, EDPoseDecoder, EDPoseOutHead, OutHeadConfig
from posekit_edpose.transformer import (
    MLP,
    DeformableEncoder,
    EncoderLayerConfig,
    PositionEmbeddingSineHW,
    inverse_sigmoid,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EncoderConfig(_Frozen):
    """MMPose's ``encoder``: ``num_layers`` layers of ``layer_cfg``."""

    num_layers: int
    layer_cfg: EncoderLayerConfig = EncoderLayerConfig()


class PositionalEncodingConfig(_Frozen):
    """MMPose's ``positional_encoding`` (:class:`~posekit_edpose.transformer.PositionEmbeddingSineHW`)."""

    num_pos_feats: int = 64
    temperatureH: float = 10000
    temperatureW: float = 10000
    normalize: bool = False
    scale: float | None = None


class DenoisingConfig(_Frozen):
    """MMPose's ``denosing_cfg`` (training-time query denoising; here only ``dn_labelbook_size`` sizes
    ``label_enc``, kept so MMPose checkpoints load)."""

    dn_box_noise_scale: float = 0.4
    dn_label_noise_ratio: float = 0.5
    dn_labelbook_size: int = 100
    dn_attn_mask_type_list: tuple[str, ...] = ("match2dn", "dn2dn", "group2group")


def _example_batch() -> PoseBatch:
    """Two 64x64 inputs with 3 and 2 people and their EDPoseLabel targets (the conformance kit's batch)."""
    from posekit.structures import PoseSample
    from posekit_edpose.edpose_label import EDPoseLabel

    rng = np.random.default_rng(0)
    codec, samples = EDPoseLabel(input_size=(64, 64)), []
    for n in (3, 2):
        lo, wh = rng.uniform(0, 32, (n, 2)), rng.uniform(16, 32, (n, 2))
        kpts = (lo[:, None] + rng.random((n, 17, 2)) * wh[:, None]).astype(np.float32)
        s = PoseSample(img_shape=(64, 64), input_size=(64, 64), keypoints=kpts)
        s.bbox = np.concatenate([lo, lo + wh], 1).astype(np.float32)
        s.keypoints_visible = (rng.random((n, 17)) > 0.2).astype(np.float32)
        s.area = (wh[:, 0] * wh[:, 1]).astype(np.float32)
        s.targets = codec.encode(s.keypoints, s.keypoints_visible, s.area, s.bbox, s.img_shape)
        samples.append(s)
    targets = {k: [torch.as_tensor(s.targets[k]) for s in samples] for k in samples[0].targets}
    return PoseBatch(torch.zeros(2, 3, 64, 64), targets, samples)


class EDPoseHead(BaseHead):
    """People (boxes, class scores) and their keypoints from multi-level features, end to end (no NMS).

    Args:
        num_queries: Q, person queries taken from the encoder (two-stage) or learnt. Default 100.
        num_feature_levels: L, the levels given. Default 4.
        num_keypoints: K. Default 17.
        as_two_stage: person queries from the encoder's best tokens. Default False.
        encoder: the deformable encoder. decoder: the ED-Pose decoder (:class:`DecoderConfig`).
        out_head: the prediction layers (:class:`OutHeadConfig`).
        positional_encoding: the feature position encodings (``num_pos_feats`` = C / 2).
        data_decoder: the codec (EDPoseLabel) that turns outputs into people; default None.
        denosing_cfg: MMPose's training denoising settings (sizes ``label_enc``). Default ``DenoisingConfig()``.
        dec_pred_class_embed_share / dec_pred_bbox_embed_share: with both, the encoder's proposal layers are
            the first decoder prediction layers. Default False.
        refine_queries_num: MMPose's denoising query count (training only; unused). Default 100.
        two_stage_keep_all_tokens: MMPose's training switch (unused). Default False.

    ``loss`` is this plugin's (MMPose 1.3.2's ``EDPoseHead.loss`` returns nothing): see :mod:`posekit_edpose.criterion`.
    """

    num_keypoints_arg = "num_keypoints"
    example_config = {
        "num_queries": 12,
        "num_keypoints": 17,
        "num_feature_levels": 2,
        "as_two_stage": True,
        "encoder": {
            "num_layers": 1,
            "layer_cfg": {"self_attn_cfg": {"num_levels": 2}, "ffn_cfg": {"feedforward_channels": 32}},
        },
        "decoder": {
            "num_layers": 3,
            "num_group": 4,
            "num_feature_levels": 2,
            "layer_cfg": {"cross_attn_cfg": {"num_levels": 2}, "ffn_cfg": {"feedforward_channels": 32}},
        },
        "out_head": {"num_classes": 2, "num_pred_layer": 3},
        "positional_encoding": {"num_pos_feats": 128, "temperatureH": 20, "temperatureW": 20, "normalize": True},
        "denosing_cfg": {"dn_labelbook_size": 4},
        "data_decoder": {"type": "EDPoseLabel", "num_select": 3, "input_size": (64, 64)},
    }

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        """Features of a 64x64 input at strides 8 and 16 (256 channels), and a batch with people."""
        return {"feat_shapes": [(256, 8, 8), (256, 4, 4)], "batch": _example_batch()}

    def __init__(
        self,
        encoder: EncoderConfig,
        decoder: DecoderConfig,
        num_queries: int = 100,
        num_feature_levels: int = 4,
        num_keypoints: int = 17,
        as_two_stage: bool = False,
        out_head: OutHeadConfig | None = None,
        positional_encoding: PositionalEncodingConfig | None = None,
        data_decoder: CodecConfig | None = None,
        denosing_cfg: DenoisingConfig | None = None,
        dec_pred_class_embed_share: bool = False,
        dec_pred_bbox_embed_share: bool = False,
        refine_queries_num: int = 100,
        two_stage_keep_all_tokens: bool = False,
    ) -> None:
        super().__init__()
        enc = EncoderConfig.model_validate(encoder)
        dec = DecoderConfig.model_validate(decoder)
        out = OutHeadConfig.model_validate(out_head or {})
        pos = PositionalEncodingConfig.model_validate(positional_encoding or {})
        dn = DenoisingConfig.model_validate(denosing_cfg or {})
        if dec.num_group > num_queries:
            raise ValueError(f"decoder.num_group ({dec.num_group}) must not exceed num_queries ({num_queries})")
        if out.num_pred_layer < dec.num_layers:
            raise ValueError(f"out_head.num_pred_layer ({out.num_pred_layer}) must cover decoder.num_layers")
        self.num_queries, self.num_keypoints, self.as_two_stage = num_queries, num_keypoints, as_two_stage
        self.num_feature_levels = num_feature_levels
        self.embed_dims = dims = dec.embed_dims
        self.data_decoder = build("codec", data_decoder, where="data_decoder") if data_decoder else None
        self.positional_encoding = PositionEmbeddingSineHW(**pos.model_dump())
        self.encoder = DeformableEncoder(enc.num_layers, enc.layer_cfg)
        self.out_head = EDPoseOutHead(out, num_keypoints, dec.num_box_decoder_layers, dec.num_group, dims)
        self.decoder = EDPoseDecoder(dec, num_keypoints, self.out_head)
        self.label_enc = nn.Embedding(dn.dn_labelbook_size + 1, dims)
        if not as_two_stage:
            self.query_embedding = nn.Embedding(num_queries, dims)
            self.refpoint_embedding = nn.Embedding(num_queries, 4)
        self.level_embed = nn.Parameter(torch.randn(num_feature_levels, dims))
        if as_two_stage:
            self.memory_trans_fc = nn.Linear(dims, dims)
            self.memory_trans_norm = nn.LayerNorm(dims)
            shared = dec_pred_class_embed_share and dec_pred_bbox_embed_share
            first_box, first_cls = self.out_head.bbox_embed[0], self.out_head.class_embed[0]
            self.enc_out_bbox_embed = first_box if shared else MLP(dims, dims, 4, 3)
            self.enc_out_class_embed = first_cls if shared else nn.Linear(dims, out.num_classes)
            if not shared:
                self.enc_out_bbox_embed.load_state_dict(first_box.state_dict())
                self.enc_out_class_embed.load_state_dict(first_cls.state_dict())

    @property
    def decoder(self) -> EDPoseDecoder:  # type: ignore[override]
        """The transformer decoder (MMPose's name, keys ``decoder.*``; :class:`BaseHead` keeps codecs there)."""
        return self._modules["decoder"]  # type: ignore[return-value]

    @property
    def codec(self) -> Any:
        """The EDPoseLabel codec (MMPose's ``data_decoder``; ``decoder`` is the transformer decoder)."""
        return self.data_decoder

    def _masks(self, feats: tuple[Tensor, ...], batch: PoseBatch | None) -> list[Tensor]:
        """Per level ``(B, h, w)`` padding masks (True: outside the sample's ``img_shape`` in the batch input)."""
        b = feats[0].shape[0]
        if batch is None:
            return [f.new_zeros((b, *f.shape[-2:]), dtype=torch.bool) for f in feats]
        h_in, w_in = batch.inputs.shape[-2:]
        masks = feats[0].new_ones((b, h_in, w_in))
        for i, sample in enumerate(batch.samples):
            h, w = sample.img_shape
            masks[i, : h or h_in, : w or w_in] = 0
        return [F.interpolate(masks[None], size=f.shape[-2:])[0].to(torch.bool) for f in feats]

    def proposals(self, memory: Tensor, mask: Tensor, shapes: list[tuple[int, int]]) -> tuple[Tensor, Tensor]:
        """Encoder tokens as proposals: transformed ``memory (B, S, C)`` and each token's box around its
        position (``0.05 * 2^level`` wide) as inverse sigmoid ``(B, S, 4)``; padded or border tokens ``inf``."""
        b, start, boxes = memory.shape[0], 0, []
        for lvl, (h, w) in enumerate(shapes):
            valid = ~mask[:, start : start + h * w].view(b, h, w)
            valid_h, valid_w = valid[:, :, 0].sum(1), valid[:, 0, :].sum(1)
            ys, xs = torch.meshgrid(
                torch.linspace(0, h - 1, h, dtype=torch.float32, device=memory.device),
                torch.linspace(0, w - 1, w, dtype=torch.float32, device=memory.device),
                indexing="ij",
            )
            scale = torch.stack([valid_w, valid_h], 1).view(b, 1, 1, 2)
            xy = (torch.stack([xs, ys], -1)[None] + 0.5) / scale
            boxes.append(torch.cat((xy, torch.full_like(xy, 0.05 * 2.0**lvl)), -1).view(b, -1, 4))
            start += h * w
        props = torch.cat(boxes, 1)
        keep = ((props > 0.01) & (props < 0.99)).all(-1, keepdim=True)
        props = inverse_sigmoid(props).masked_fill(mask[..., None], float("inf")).masked_fill(~keep, float("inf"))
        out = memory.masked_fill(mask[..., None], 0.0).masked_fill(~keep, 0.0)
        return self.memory_trans_norm(self.memory_trans_fc(out)), props

    def _run(
        self, feats: tuple[Tensor, ...], batch: PoseBatch | None, last_only: bool
    ) -> tuple[list[tuple[Tensor, Tensor]], tuple[Tensor, Tensor] | None]:
        """The decoder's states and input references (:meth:`EDPoseDecoder.forward`) and, two-stage, the encoder's
        proposals: class logits ``(B, Q, num_classes)`` and boxes ``(B, Q, 4)`` of the Q tokens kept."""
        if len(feats) != self.num_feature_levels:
            raise ValueError(f"EDPoseHead takes {self.num_feature_levels} feature levels, got {len(feats)}")
        masks = self._masks(feats, batch)
        shapes = [(int(f.shape[-2]), int(f.shape[-1])) for f in feats]
        flat = torch.cat([f.flatten(2).transpose(1, 2) for f in feats], 1)
        pos = torch.cat(
            [
                self.positional_encoding(m).flatten(2).transpose(1, 2) + self.level_embed[lvl]
                for lvl, m in enumerate(masks)
            ],
            1,
        )
        mask = torch.cat([m.flatten(1) for m in masks], 1)
        ratios = torch.stack([torch.stack([(~m[:, 0]).sum(1), (~m[:, :, 0]).sum(1)], -1) for m in masks], 1)
        ratios = ratios.float() / torch.tensor([[w, h] for h, w in shapes], device=flat.device)
        memory = self.encoder(flat, pos, mask, shapes, ratios)
        proposals = None
        if self.as_two_stage:
            out_memory, props = self.proposals(memory, mask, shapes)
            coords = self.enc_out_bbox_embed(out_memory) + props
            logits = self.enc_out_class_embed(out_memory)
            top = logits.max(-1)[0].topk(self.num_queries, dim=1)[1]
            coords = coords.gather(1, top[..., None].expand(-1, -1, 4))
            ref = coords.detach().sigmoid()
            query = out_memory.gather(1, top[..., None].expand(-1, -1, self.embed_dims)).detach()
            if not last_only:
                proposals = logits.gather(1, top[..., None].expand(-1, -1, logits.shape[-1])), coords.sigmoid()
        else:
            b = flat.shape[0]
            query = self.query_embedding.weight[None].expand(b, -1, -1)
            ref = self.refpoint_embedding.weight[None].expand(b, -1, -1).sigmoid()
        return self.decoder(query, memory, mask, ref, shapes, ratios, last_only), proposals

    def forward(self, feats: tuple[Tensor, ...], batch: PoseBatch | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``feats``: L levels ``(B, C, h, w)``; ``batch`` gives each image's valid region (default: all).

        Returns:
            ``pred_logits (B, G, num_classes)`` (logits), ``pred_boxes (B, G, 4)`` (cx, cy, w, h) and
            ``pred_keypoints (B, G, 3K)`` (x, y pairs then visibilities), fractions of each image's region.
        """
        states, _ = self._run(feats, batch, last_only=True)
        hidden, ref = states[-1]
        return self.out_head(hidden, ref, len(self.decoder.layers) - 1)

    def layer_outputs(
        self, feats: tuple[Tensor, ...], batch: PoseBatch | None = None
    ) -> dict[str, tuple[Tensor, Tensor, Tensor | None]]:
        """Every stage's predictions, for training: ``enc`` (the encoder's proposals, two-stage), ``d0``,
        ``d1``, ... (every decoder layer, the last as :meth:`forward`'s). Each is class logits, boxes and
        keypoints (None for the encoder and the box layers, whose N = Q people have no keypoints)."""
        states, proposals = self._run(feats, batch, last_only=False)
        outputs: dict[str, tuple[Tensor, Tensor, Tensor | None]] = {}
        if proposals is not None:
            outputs["enc"] = (*proposals, None)
        nb = self.decoder.cfg.num_box_decoder_layers
        for layer, (hidden, ref) in enumerate(states):
            if layer < nb:
                outputs[f"d{layer}"] = (*self.out_head.people(hidden, ref, layer), None)
            else:
                outputs[f"d{layer}"] = self.out_head(hidden, ref, layer)
        return outputs

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """The codec's ``num_select`` best people per image, in input pixels (no flip test: with
        ``flip_test`` only the original view is used, MMPose's ED-Pose has none).

        Returns:
            one :class:`InstanceData` per image: ``keypoints (S, K, 2)``, ``keypoint_scores (S, K)`` (the person's
            score), ``instance_scores (S,)`` and ``bboxes (S, 4)`` xyxy.
        """
        if self.data_decoder is None:
            raise RuntimeError("EDPoseHead.predict needs data_decoder (an EDPoseLabel codec config)")
        if test_cfg.flip_test:
            feats = feats[0]
        logits, boxes, kpts = (t.detach().float().cpu().numpy() for t in self.forward(feats, batch))
        probs = 1.0 / (1.0 + np.exp(-logits))
        out = []
        for i, sample in enumerate(batch.samples):
            w, h = sample.input_size
            bboxes, keypoints, scores = self.data_decoder.decode(np.array([h, w]), probs[i], boxes[i], kpts[i])
            out.append(
                InstanceData(
                    keypoints=keypoints,
                    keypoint_scores=scores,
                    instance_scores=scores[:, 0].copy(),
                    bboxes=bboxes.astype(np.float32),
                )
            )
        return out

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """Set-prediction losses of every stage against the codec's targets (Hungarian matching, as ED-Pose's
        auxiliary losses): the last decoder layer's ``loss_cls``, ``loss_bbox``, ``loss_giou``, ``loss_kpt``,
        and the sum of each earlier stage's as ``loss_enc``, ``loss_d0``, ... (see :mod:`posekit_edpose.criterion`)."""
        from posekit_edpose.criterion import stage_losses

        return stage_losses(self.layer_outputs(feats, batch), batch)
