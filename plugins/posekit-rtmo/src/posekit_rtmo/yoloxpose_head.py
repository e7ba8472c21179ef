"""YOLOXPoseHead (`YOLO-Pose <https://arxiv.org/abs/2204.06806>`__ on YOLOX), as MMPose's ``yoloxpose_head.py``.

Dimensions: B images, L levels (strides ``featmap_strides``), K keypoints, C classes, P priors.
Per level, three conv towers (``conv_cls``, ``conv_reg``, ``conv_pose``) predict class logits
``(B, C, H, W)``, objectness ``(B, 1, H, W)``, box deltas ``(B, 4, H, W)`` (``(dx, dy, log w, log h)`` in
strides), keypoint offsets ``(B, 2K, H, W)`` and keypoint visibility logits ``(B, K, H, W)``.
Keys as MMPose's (``head_module.conv_cls.0.0.conv.weight``, ``head_module.out_kpt.2.bias``, ...).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.nn import ActConfig, ConvModule, NormConfig, as_config
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import LossConfig
from posekit_rtmo._ops import PriorGeneratorConfig
from posekit_rtmo.assigner import SimOTAConfig
from posekit_rtmo.one_stage import (
    OneStageHead,
    bbox_aux_targets,
    decode_bbox,
    decode_kpt_reg,
    flatten_levels,
    one_stage_decoder,
    scalar,
)

YOLOX_BN = NormConfig(type="BN", momentum=0.03, eps=0.001)
PRIOR_PROB = 0.01


def stacked_convs(
    in_ch: int, out_ch: int, n: int, norm: NormConfig, act: ActConfig, bias: bool | str, groups: int = 1
) -> nn.Sequential:
    """``n`` 3x3 ConvModules, the first from ``in_ch`` (ungrouped), the rest with ``groups``."""
    return nn.Sequential(
        *(
            ConvModule(
                in_ch if i == 0 else out_ch,
                out_ch,
                3,
                padding=1,
                groups=1 if i == 0 else groups,
                bias=bias,
                norm_cfg=norm,
                act_cfg=act,
            )
            for i in range(n)
        )
    )


class HeadModuleConfig(BaseModel):
    """What the ``head_module_cfg`` of YOLOXPoseHead and RTMOHead share (``num_keypoints``/``featmap_strides``
    come from the head).

    Args:
        num_classes: C. Default 1.
        in_channels: input channels before ``widen_factor``.
        widen_factor: multiplies ``in_channels`` and the towers' channels. Default 1.0.
        stacked_convs: convs per tower (the pose tower has twice as many). Default 2.
        conv_bias: conv biases; ``auto``: only without a norm. Default auto.
        conv_cfg: must be None.
        norm_cfg: norm of the towers. Default ``BN(momentum=0.03, eps=0.001)``.
        act_cfg: activation of the towers. Default SiLU.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    num_classes: int = 1
    in_channels: int
    widen_factor: float = 1.0
    stacked_convs: int = 2
    conv_bias: bool | Literal["auto"] = "auto"
    conv_cfg: None = None
    norm_cfg: NormConfig = YOLOX_BN
    act_cfg: ActConfig = ActConfig(type="SiLU", inplace=True)


class YOLOXHeadModuleConfig(HeadModuleConfig):
    """MMPose's ``head_module_cfg`` of YOLOXPoseHead.

    Args:
        feat_channels: tower channels before ``widen_factor``. Default 256.
        (others): as :class:`HeadModuleConfig`.
    """

    feat_channels: int = 256


class YOLOXPoseHeadModule(nn.Module):
    """The per-level towers and output convs; ``forward`` returns five lists of per-level maps."""

    def __init__(self, num_keypoints: int, num_levels: int, cfg: YOLOXHeadModuleConfig) -> None:
        super().__init__()
        in_ch, feat = int(cfg.in_channels * cfg.widen_factor), int(cfg.feat_channels * cfg.widen_factor)
        args = (cfg.norm_cfg, cfg.act_cfg, cfg.conv_bias)
        levels = range(num_levels)
        self.conv_cls = nn.ModuleList(stacked_convs(in_ch, feat, cfg.stacked_convs, *args) for _ in levels)
        self.out_cls = nn.ModuleList(nn.Conv2d(feat, cfg.num_classes, 1) for _ in levels)
        self.conv_reg = nn.ModuleList(stacked_convs(in_ch, feat, cfg.stacked_convs, *args) for _ in levels)
        self.out_bbox = nn.ModuleList(nn.Conv2d(feat, 4, 1) for _ in levels)
        self.out_obj = nn.ModuleList(nn.Conv2d(feat, 1, 1) for _ in levels)
        self.conv_pose = nn.ModuleList(stacked_convs(in_ch, feat, cfg.stacked_convs * 2, *args) for _ in levels)
        self.out_kpt = nn.ModuleList(nn.Conv2d(feat, num_keypoints * 2, 1) for _ in levels)
        self.out_kpt_vis = nn.ModuleList(nn.Conv2d(feat, num_keypoints, 1) for _ in levels)
        bias = -math.log((1 - PRIOR_PROB) / PRIOR_PROB)
        for conv in (*self.out_cls, *self.out_obj):
            nn.init.constant_(conv.bias, bias)

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[list[Tensor], ...]:
        """Per level: class logits, objectness, box deltas, keypoint offsets, visibility logits."""
        cls, obj, bbox, kpt, vis = [], [], [], [], []
        for i, x in enumerate(feats):
            cls_feat, reg_feat, pose_feat = self.conv_cls[i](x), self.conv_reg[i](x), self.conv_pose[i](x)
            cls.append(self.out_cls[i](cls_feat))
            obj.append(self.out_obj[i](reg_feat))
            bbox.append(self.out_bbox[i](reg_feat))
            kpt.append(self.out_kpt[i](pose_feat))
            vis.append(self.out_kpt_vis[i](pose_feat))
        return cls, obj, bbox, kpt, vis


class YOLOXPoseHead(OneStageHead):
    """One-stage pose head of YOLOX-Pose: people's boxes, keypoints and visibilities from every prior.

    Args:
        num_keypoints: K.
        head_module_cfg: the towers (see :class:`YOLOXHeadModuleConfig`).
        featmap_strides: stride of each input level. Default (8, 16, 32).
        num_classes: C. Default 1.
        use_aux_loss: add the L1 losses on raw box deltas (``loss_bbox_aux``). Default False.
        assigner: SimOTA settings. Default ``SimOTAConfig()``.
        prior_generator: the prior points; default ``MlvlPointGenerator`` on ``featmap_strides``.
        loss_cls: classification loss (BCELoss). loss_obj: objectness loss. loss_bbox: IoULoss.
        loss_oks: OKSLoss. loss_vis: visibility BCELoss. loss_bbox_aux / loss_kpt_aux: optional L1 losses.
        overlaps_power: class targets are matched OKS/IoU to this power. Default 1.0.
        decoder: the label codec (YOLOXPoseAnnotationProcessor); default None.
    """

    example_config = {
        "num_keypoints": 17,
        "featmap_strides": (8, 16),
        "head_module_cfg": {"in_channels": 16, "feat_channels": 16},
        "assigner": {"dynamic_k_indicator": "oks"},
        "loss_cls": {"type": "BCELoss", "reduction": "sum"},
        "loss_obj": {"type": "BCELoss", "use_target_weight": True, "reduction": "sum"},
        "loss_bbox": {"type": "IoULoss", "mode": "square", "reduction": "sum", "loss_weight": 5.0},
        "loss_oks": {"type": "OKSLoss", "reduction": "none", "metainfo": "coco", "norm_target_weight": True},
        "loss_vis": {"type": "BCELoss", "use_target_weight": True},
        "decoder": {"type": "YOLOXPoseAnnotationProcessor", "input_size": (64, 64)},
    }

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        """Features of a 64x64 input at strides 8 and 16, and a batch of two images with people."""
        from posekit_rtmo.examples import one_stage_batch

        return {"feat_shapes": [(16, 8, 8), (16, 4, 4)], "batch": one_stage_batch()}

    def __init__(
        self,
        num_keypoints: int,
        head_module_cfg: YOLOXHeadModuleConfig,
        featmap_strides: tuple[int, ...] = (8, 16, 32),
        num_classes: int = 1,
        use_aux_loss: bool = False,
        assigner: SimOTAConfig | None = None,
        prior_generator: PriorGeneratorConfig | None = None,
        loss_cls: LossConfig | None = None,
        loss_obj: LossConfig | None = None,
        loss_bbox: LossConfig | None = None,
        loss_oks: LossConfig | None = None,
        loss_vis: LossConfig | None = None,
        loss_bbox_aux: LossConfig | None = None,
        loss_kpt_aux: LossConfig | None = None,
        overlaps_power: float = 1.0,
        decoder: one_stage_decoder("YOLOXPoseHead") = None,
    ) -> None:
        super().__init__()
        self._init_common(num_keypoints, featmap_strides, num_classes, prior_generator, assigner, decoder)
        self.use_aux_loss = use_aux_loss
        self.overlaps_power = overlaps_power
        cfg = as_config(YOLOXHeadModuleConfig, head_module_cfg, "head_module_cfg")
        self.head_module = YOLOXPoseHeadModule(num_keypoints, len(self.featmap_strides), cfg)
        bce = {"type": "BCELoss", "reduction": "sum"}
        self._build_losses(
            loss_cls=loss_cls or bce,
            loss_obj=loss_obj or bce,
            loss_bbox=loss_bbox,
            loss_oks=loss_oks,
            loss_vis=loss_vis,
            loss_bbox_aux=loss_bbox_aux,
            loss_kpt_aux=loss_kpt_aux,
        )

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[list[Tensor], ...]:
        """Per-level ``cls (B, C, H, W)``, ``obj (B, 1, H, W)``, ``bbox (B, 4, H, W)``, ``kpt (B, 2K, H, W)``,
        ``vis (B, K, H, W)`` (logits and raw deltas)."""
        return self.head_module(feats)

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """SimOTA-assigned losses: ``loss_obj`` always; ``loss_bbox``, ``loss_kpt`` (OKS), ``loss_vis``, ``loss_cls``
        (and the auxiliary L1 losses with ``use_aux_loss``) when a prior is positive.

        Ground truth per image (input pixels): the samples' ``bbox``, ``keypoints``, ``keypoints_visible``,
        ``area`` and the codec's ``bbox_labels`` (and expanded ``bbox``) targets.
        """
        cls, obj, bbox, kpt, vis = self.forward(feats)
        priors, _ = self.priors(cls)
        f_cls, f_obj, f_bbox, f_kpt, f_vis = (flatten_levels(x) for x in (cls, obj, bbox, kpt, vis))
        d_bbox, d_kpt, t, num_total = self.assign(f_cls, f_obj, f_bbox, f_kpt, f_vis, priors, batch)
        losses = {"loss_obj": self.loss_obj(f_obj.reshape(-1, 1), t.obj, t.obj_weight) / num_total}
        if t.num_pos > 0:
            k = self.num_keypoints
            losses["loss_bbox"] = self.loss_bbox(d_bbox.reshape(-1, 4)[t.pos_mask], t.bbox) / num_total
            losses["loss_kpt"] = scalar(self.loss_oks(d_kpt.reshape(-1, k, 2)[t.pos_mask], t.kpt, t.vis, t.areas))
            losses["loss_vis"] = scalar(self.loss_vis(f_vis.reshape(-1, k)[t.pos_mask], t.vis, t.vis_weight))
            cls_targets = t.cls.pow(self.overlaps_power).detach()
            losses["loss_cls"] = self.loss_cls(f_cls.reshape(-1, self.num_classes)[t.pos_mask], cls_targets) / num_total
            if self.use_aux_loss:
                p = t.priors
                if hasattr(self, "loss_bbox_aux"):
                    aux = bbox_aux_targets(t.bbox, p)
                    losses["loss_bbox_aux"] = self.loss_bbox_aux(f_bbox.reshape(-1, 4)[t.pos_mask], aux) / num_total
                if hasattr(self, "loss_kpt_aux"):
                    aux_kpt = (t.kpt - p[:, None, :2]) / p[:, None, 2:]
                    raw = f_kpt.reshape(-1, k, 2)[t.pos_mask]
                    losses["loss_kpt_aux"] = scalar(self.loss_kpt_aux(raw, aux_kpt, t.vis / t.vis.size(-1)))
        return losses

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """People of each image, in input pixels: score = class x objectness above ``test_cfg.score_thr``
        (default 0.01), the ``nms_pre`` best, NMS at ``nms_thr`` (default none), boxes clipped to the input.

        Returns:
            one :class:`InstanceData` per image: ``keypoints (N, K, 2)``, ``keypoint_scores (N, K)`` (visibility
            probabilities, also ``keypoints_visible``), ``instance_scores (N,)`` and ``bboxes (N, 4)`` xyxy.
        """
        if test_cfg.flip_test:
            feats = feats[0]  # one-stage heads have no flip test (nor have MMPose's): the original view decides
        boxes, scores, kpts, vis_p = self.decode_all(self.forward(feats))
        out = []
        for i, sample in enumerate(batch.samples):
            keep = self.filter(scores[i][:, None], boxes[i], test_cfg)
            kept = (scores[i][keep], boxes[i][keep], kpts[i][keep], vis_p[i][keep])
            out.append(self.instances(*kept, sample.input_size))
        return out

    def decode_all(self, outputs: tuple[list[Tensor], ...]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Every prior's box, score (best class x objectness), keypoints and visibility (see the base class)."""
        cls, obj, bbox, kpt, vis = outputs
        priors, stride = self.priors(cls)
        scores = (flatten_levels(cls).sigmoid() * flatten_levels(obj).sigmoid()).max(-1)[0]
        boxes = decode_bbox(flatten_levels(bbox), priors[:, :2], stride)
        kpts = decode_kpt_reg(flatten_levels(kpt), priors[:, :2], stride, self.num_keypoints)
        return boxes, scores, kpts, flatten_levels(vis).sigmoid()
