"""RTMOHead (`RTMO <https://arxiv.org/abs/2312.07526>`__), as MMPose's ``rtmo_head.py``: a YOLO-style one-stage
head whose keypoints come from a dynamic coordinate classifier (DCC).

Dimensions: B images, K keypoints, C classes, P priors, N kept people, Wx/Wy bins.
Per level the input ``(B, 2c, H, W)`` is split in two: a class tower on the first half predicts
``cls (B, C, H, W)``; a grouped pose tower on the second half predicts box deltas ``(B, 4, H, W)``,
keypoint offsets ``(B, 2K, H, W)`` (training only), visibility logits ``(B, K, H, W)`` and a pose
vector ``(B, V, H, W)``. The DCC turns a person's pose vector into K tokens (a GAU mixes them) and
scores them against sine encodings of Wx / Wy bins spread over the person's box (padded by
``bbox_padding``); a softmax over the bins gives the keypoint as the expected bin position.
Keys as MMPose's (``head_module.conv_pose.0.1.conv.weight``, ``dcc.gau.uv.weight``, ``dcc.x_bins``, ...).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from posekit.nn import as_config
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import LossConfig
from posekit_rtmo._ops import PriorGeneratorConfig, bbox_xyxy2cs
from posekit_rtmo.assigner import SimOTAConfig
from posekit_rtmo.one_stage import (
    SCORE_THR,
    OneStageHead,
    bbox_aux_targets,
    decode_bbox,
    flatten_levels,
    one_stage_decoder,
    scalar,
)
from posekit_rtmo.transformer import GAUConfig, GAUEncoder, SinePositionalEncoding
from posekit_rtmo.yoloxpose_head import PRIOR_PROB, HeadModuleConfig, stacked_convs

EPS = 1e-8


class RTMOHeadModuleConfig(HeadModuleConfig):
    """MMPose's ``head_module_cfg`` of RTMOHead (each tower takes half of ``in_channels``).

    Args:
        cls_feat_channels: class tower channels before ``widen_factor``. Default 256.
        num_groups: groups of the pose tower's convs after the first. Default 8.
        channels_per_group: pose tower channels per group before ``widen_factor``. Default 36.
        pose_vec_channels: V, channels of the pose vector; -1: the pose tower's channels. Default -1.
        (others): as :class:`~posekit_rtmo.yoloxpose_head.HeadModuleConfig` (``stacked_convs``: of the class
            tower).
    """

    cls_feat_channels: int = 256
    num_groups: int = 8
    channels_per_group: int = 36
    pose_vec_channels: int = -1


class DCCConfig(BaseModel):
    """MMPose's ``dcc_cfg`` (``num_keypoints`` comes from the head).

    Args:
        in_channels: V, the pose vector's channels.
        feat_channels: channels of each keypoint token and bin encoding.
        num_bins: ``(Wx, Wy)`` bins over the padded box.
        spe_channels: channels of the bins' sine encodings. Default 128.
        spe_temperature: their temperature. Default 300.
        gau_cfg: the GAU over keypoint tokens; None: none.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    in_channels: int
    feat_channels: int
    num_bins: tuple[int, int]
    spe_channels: int = 128
    spe_temperature: float = 300.0
    gau_cfg: GAUConfig | None = GAUConfig(pos_enc="add")


class RTMOHeadModule(nn.Module):
    """The per-level towers: cls, bbox, keypoint offsets (training only), visibility and pose vector maps."""

    def __init__(self, num_keypoints: int, num_levels: int, cfg: RTMOHeadModuleConfig) -> None:
        super().__init__()
        half = int(cfg.in_channels * cfg.widen_factor)
        feat = int(cfg.cls_feat_channels * cfg.widen_factor)
        pose = cfg.num_groups * int(cfg.widen_factor * cfg.channels_per_group)
        args = (cfg.norm_cfg, cfg.act_cfg, cfg.conv_bias)
        levels = range(num_levels)
        self.conv_cls = nn.ModuleList(stacked_convs(half, feat, cfg.stacked_convs, *args) for _ in levels)
        self.out_cls = nn.ModuleList(nn.Conv2d(feat, cfg.num_classes, 1) for _ in levels)
        self.conv_pose = nn.ModuleList(
            stacked_convs(half, pose, cfg.stacked_convs * 2, *args, groups=cfg.num_groups) for _ in levels
        )
        self.out_bbox = nn.ModuleList(nn.Conv2d(pose, 4, 1) for _ in levels)
        self.out_kpt_reg = nn.ModuleList(nn.Conv2d(pose, num_keypoints * 2, 1) for _ in levels)
        self.out_kpt_vis = nn.ModuleList(nn.Conv2d(pose, num_keypoints, 1) for _ in levels)
        self.pose_vec_channels = cfg.pose_vec_channels
        if cfg.pose_vec_channels > 0:
            self.out_pose = nn.ModuleList(nn.Conv2d(pose, cfg.pose_vec_channels, 1) for _ in levels)
        bias = -math.log((1 - PRIOR_PROB) / PRIOR_PROB)
        for conv in self.out_cls:
            nn.init.constant_(conv.bias, bias)

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[list[Tensor], ...]:
        cls, bbox, kpt, vis, pose_vecs = [], [], [], [], []
        for i, x in enumerate(feats):
            cls_feat, reg_feat = x.split(x.size(1) // 2, 1)
            cls_feat, reg_feat = self.conv_cls[i](cls_feat), self.conv_pose[i](reg_feat)
            cls.append(self.out_cls[i](cls_feat))
            bbox.append(self.out_bbox[i](reg_feat))
            if self.training:
                kpt.append(self.out_kpt_reg[i](reg_feat))
            vis.append(self.out_kpt_vis[i](reg_feat))
            pose_vecs.append(self.out_pose[i](reg_feat) if self.pose_vec_channels > 0 else reg_feat)
        return cls, bbox, kpt, vis, pose_vecs


class Scale(nn.Module):
    """``x * scale`` with one learned scalar (mmcv's ``Scale``, key ``scale``)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class DCC(nn.Module):
    """Dynamic coordinate classifier: pose vectors ``(N, V)`` and padded boxes ``(N, 4)`` ``(cx, cy, w, h)`` ->
    keypoints ``(N, K, 2)`` (and, for training, the bin probabilities ``(N, K, Wx)``, ``(N, K, Wy)`` and sigmas)."""

    x_bins: Tensor
    y_bins: Tensor

    def __init__(self, num_keypoints: int, cfg: DCCConfig) -> None:
        super().__init__()
        self.num_keypoints, self.feat_channels = num_keypoints, cfg.feat_channels
        self.spe = SinePositionalEncoding(cfg.spe_channels, temperature=cfg.spe_temperature)
        if cfg.gau_cfg is not None:
            self.gau = GAUEncoder(cfg.feat_channels, cfg.feat_channels, cfg.gau_cfg)
            if cfg.gau_cfg.pos_enc == "add":
                self.pos_enc = nn.Parameter(torch.randn(num_keypoints, cfg.gau_cfg.s))
        k, c = num_keypoints, cfg.feat_channels
        self.pose_to_kpts = nn.Sequential(nn.Linear(cfg.in_channels, c * k), nn.BatchNorm1d(c * k))
        self.x_fc = nn.Linear(cfg.spe_channels, c)
        self.y_fc = nn.Linear(cfg.spe_channels, c)
        self.sigma_fc = nn.Sequential(nn.Linear(cfg.in_channels, k), nn.Sigmoid(), Scale(0.1))
        self.register_buffer("y_bins", torch.linspace(-0.5, 0.5, cfg.num_bins[1]))
        self.register_buffer("x_bins", torch.linspace(-0.5, 0.5, cfg.num_bins[0]))

    def _bins(self, bbox_cs: Tensor, grids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Bin positions ``(N, Wx)``, ``(N, Wy)`` over each padded box (relative to ``grids (N, 2)`` if given)."""
        center, scale = bbox_cs[..., :2], bbox_cs[..., 2:]
        if grids is not None:
            center = center - grids
        return self.x_bins * scale[..., 0:1] + center[..., 0:1], self.y_bins * scale[..., 1:2] + center[..., 1:2]

    def probabilities(self, pose_feats: Tensor, bbox_cs: Tensor, grids: Tensor) -> tuple[Tensor, Tensor]:
        """Softmax over the bins of each keypoint: ``(N, K, Wx)``, ``(N, K, Wy)`` (bins encoded from ``grids``)."""
        x_bins, y_bins = self._bins(bbox_cs, grids)
        x_enc, y_enc = self.x_fc(self.spe(position=x_bins)), self.y_fc(self.spe(position=y_bins))
        tokens = self.pose_to_kpts(pose_feats).reshape(*pose_feats.shape[:-1], self.num_keypoints, self.feat_channels)
        if hasattr(self, "gau"):
            tokens = self.gau(tokens, pos_enc=getattr(self, "pos_enc", None))
        x_hms = torch.matmul(tokens, x_enc.transpose(-1, -2)).clamp(-5e4, 5e4)
        y_hms = torch.matmul(tokens, y_enc.transpose(-1, -2)).clamp(-5e4, 5e4)
        exp_x = (x_hms - x_hms.max(dim=-1, keepdim=True).values.detach()).exp()
        exp_y = (y_hms - y_hms.max(dim=-1, keepdim=True).values.detach()).exp()
        return exp_x / (exp_x.sum(dim=-1, keepdim=True) + EPS), exp_y / (exp_y.sum(dim=-1, keepdim=True) + EPS)

    def decode(self, prob_x: Tensor, prob_y: Tensor, bbox_cs: Tensor) -> Tensor:
        """Expected bin position per keypoint: ``(N, K, 2)``."""
        x_bins, y_bins = self._bins(bbox_cs)
        return torch.stack(((prob_x * x_bins.unsqueeze(1)).sum(-1), (prob_y * y_bins.unsqueeze(1)).sum(-1)), dim=-1)

    def forward(self, pose_feats: Tensor, bbox_cs: Tensor, grids: Tensor) -> Tensor:
        """Keypoints ``(N, K, 2)`` of pose vectors ``(N, V)``, boxes ``(N, 4)`` cs and prior points ``(N, 2)``."""
        return self.decode(*self.probabilities(pose_feats, bbox_cs, grids), bbox_cs)

    def target_heatmaps(
        self, kpt_targets: Tensor, bbox_cs: Tensor, sigmas: Tensor, areas: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Laplace-shaped targets over the bins for the MLE loss: ``(N, K, Wx)``, ``(N, K, Wy)``."""
        x_bins, y_bins = self._bins(bbox_cs)
        dist_x = torch.abs(kpt_targets[..., 0:1] - x_bins.unsqueeze(1))
        dist_y = torch.abs(kpt_targets[..., 1:2] - y_bins.unsqueeze(1))
        areas = areas.pow(0.5).clip(min=1).reshape(-1, 1, 1)
        sigmas = sigmas.clip(min=1e-3).unsqueeze(2)
        dist_x, dist_y = dist_x / areas / sigmas, dist_y / areas / sigmas
        return torch.exp(-dist_x / 2) / sigmas, torch.exp(-dist_y / 2) / sigmas


class RTMOHead(OneStageHead):
    """RTMO's head: YOLO-style people and boxes, keypoints from the DCC.

    Args:
        num_keypoints: K.
        head_module_cfg: the towers (see :class:`RTMOHeadModuleConfig`).
        featmap_strides: stride of each input level. Default (16, 32).
        num_classes: C. Default 1.
        use_aux_loss: add the L1 loss on raw box deltas (``loss_bbox_aux``). Default False.
        proxy_target_cc: train the regression branch towards the DCC's keypoints where they are closer,
            and the class score towards their OKS. Default False.
        assigner: SimOTA settings. Default ``SimOTAConfig()``.
        prior_generator: the prior points; default ``MlvlPointGenerator`` on ``featmap_strides``.
        bbox_padding: the DCC's bins span the box scaled by this. Default 1.25.
        overlaps_power: class targets are matched OKS/IoU to this power. Default 1.0.
        dcc_cfg: the DCC (see :class:`DCCConfig`); needed by ``predict``.
        loss_cls: VariFocalLoss. loss_bbox: IoULoss. loss_oks: OKSLoss. loss_vis: BCELoss. loss_mle: MLECCLoss
            (the DCC's). loss_bbox_aux: optional L1Loss.
        decoder: the label codec (YOLOXPoseAnnotationProcessor); default None.
    """

    example_config = {
        "num_keypoints": 17,
        "featmap_strides": (16, 32),
        "head_module_cfg": {
            "in_channels": 32,
            "cls_feat_channels": 16,
            "channels_per_group": 4,
            "pose_vec_channels": 16,
            "widen_factor": 0.5,
        },
        "assigner": {"dynamic_k_indicator": "oks", "use_keypoints_for_center": True},
        "prior_generator": {"strides": (16, 32), "centralize_points": True},
        "dcc_cfg": {
            "in_channels": 16,
            "feat_channels": 8,
            "num_bins": (12, 16),
            "spe_channels": 8,
            "gau_cfg": {"s": 8, "pos_enc": "add"},
        },
        "loss_cls": {"type": "VariFocalLoss", "reduction": "sum", "use_target_weight": True},
        "loss_bbox": {"type": "IoULoss", "mode": "square", "reduction": "sum", "loss_weight": 5.0},
        "loss_oks": {"type": "OKSLoss", "reduction": "none", "metainfo": "coco", "loss_weight": 30.0},
        "loss_vis": {"type": "BCELoss", "use_target_weight": True},
        "loss_mle": {"type": "MLECCLoss", "use_target_weight": True},
        "decoder": {"type": "YOLOXPoseAnnotationProcessor", "input_size": (64, 64)},
    }

    @classmethod
    def example_inputs(cls) -> dict[str, Any]:
        """Features of a 64x64 input at strides 16 and 32, and a batch of two images with people."""
        from posekit_rtmo.examples import one_stage_batch

        return {"feat_shapes": [(32, 4, 4), (32, 2, 2)], "batch": one_stage_batch()}

    def __init__(
        self,
        num_keypoints: int,
        head_module_cfg: RTMOHeadModuleConfig,
        featmap_strides: tuple[int, ...] = (16, 32),
        num_classes: int = 1,
        use_aux_loss: bool = False,
        proxy_target_cc: bool = False,
        assigner: SimOTAConfig | None = None,
        prior_generator: PriorGeneratorConfig | None = None,
        bbox_padding: float = 1.25,
        overlaps_power: float = 1.0,
        dcc_cfg: DCCConfig | None = None,
        loss_cls: LossConfig | None = None,
        loss_bbox: LossConfig | None = None,
        loss_oks: LossConfig | None = None,
        loss_vis: LossConfig | None = None,
        loss_mle: LossConfig | None = None,
        loss_bbox_aux: LossConfig | None = None,
        decoder: one_stage_decoder("RTMOHead") = None,
    ) -> None:
        super().__init__()
        self._init_common(num_keypoints, featmap_strides, num_classes, prior_generator, assigner, decoder)
        self.use_aux_loss, self.proxy_target_cc = use_aux_loss, proxy_target_cc
        self.bbox_padding, self.overlaps_power = bbox_padding, overlaps_power
        cfg = as_config(RTMOHeadModuleConfig, head_module_cfg, "head_module_cfg")
        self.head_module = RTMOHeadModule(num_keypoints, len(self.featmap_strides), cfg)
        if dcc_cfg is not None:
            self.dcc = DCC(num_keypoints, as_config(DCCConfig, dcc_cfg, "dcc_cfg"))
        self._build_losses(
            loss_cls=loss_cls or {"type": "VariFocalLoss", "reduction": "sum"},
            loss_bbox=loss_bbox,
            loss_oks=loss_oks,
            loss_vis=loss_vis,
            loss_mle=loss_mle,
            loss_bbox_aux=loss_bbox_aux,
        )

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[list[Tensor], ...]:
        """Per-level ``cls (B, C, H, W)``, ``bbox (B, 4, H, W)``, ``kpt (B, 2K, H, W)`` (training only, else
        empty), ``vis (B, K, H, W)`` and pose vectors ``(B, V, H, W)``."""
        return self.head_module(feats)

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        """SimOTA-assigned losses: ``loss_cls`` (against matched OKS) always; ``loss_bbox``, ``loss_vis``,
        ``loss_mle`` (DCC), ``loss_oks`` (regression branch) when a prior is positive. Ground truth as
        :meth:`YOLOXPoseHead.loss`."""
        cls, bbox, kpt, vis, pose_vecs = self.forward(feats)
        priors, _ = self.priors(cls)
        f_cls, f_bbox, f_kpt, f_vis = (flatten_levels(x) for x in (cls, bbox, kpt, vis))
        f_pose = flatten_levels(pose_vecs)
        f_obj = torch.full_like(f_cls[..., :1], 1e4)
        d_bbox, d_kpt, t, num_total = self.assign(f_cls, f_obj, f_bbox, f_kpt, f_vis, priors, batch)
        losses: dict[str, Tensor] = {}
        obj_targets = t.obj
        if t.num_pos > 0:
            k = self.num_keypoints
            bbox_preds = d_bbox.reshape(-1, 4)[t.pos_mask]
            losses["loss_bbox"] = self.loss_bbox(bbox_preds, t.bbox) / num_total
            if self.use_aux_loss and hasattr(self, "loss_bbox_aux"):
                aux = bbox_aux_targets(t.bbox, t.priors)
                losses["loss_bbox_aux"] = self.loss_bbox_aux(f_bbox.reshape(-1, 4)[t.pos_mask], aux) / num_total
            losses["loss_vis"] = scalar(self.loss_vis(f_vis.reshape(-1, k)[t.pos_mask], t.vis, t.vis_weight))
            kpt_reg = d_kpt.reshape(-1, k, 2)[t.pos_mask]
            cls_targets = t.cls
            kpt_cc = None
            if hasattr(self, "loss_mle") and self.loss_mle.loss_weight > 0:
                bbox_cs = bbox_xyxy2cs(bbox_preds, self.bbox_padding)
                pose = f_pose.reshape(-1, f_pose.size(-1))[t.pos_mask]
                sigmas = self.dcc.sigma_fc(pose)
                prob = self.dcc.probabilities(pose, bbox_cs, t.priors[:, :2])
                kpt_cc = self.dcc.decode(*prob, bbox_cs)
                target_hms = self.dcc.target_heatmaps(t.kpt, bbox_cs, sigmas, t.areas)
                losses["loss_mle"] = scalar(self.loss_mle(prob, target_hms, t.vis))
            if self.proxy_target_cc and kpt_cc is not None:
                with torch.no_grad():
                    closer = (torch.norm(kpt_reg - t.kpt, dim=-1) > torch.norm(kpt_cc - t.kpt, dim=-1)).float()
                    cls_targets = self.assigner.oks_calculator(kpt_cc, t.kpt, t.vis, t.areas).unsqueeze(1)
                losses["loss_oks"] = scalar(self.loss_oks(kpt_reg, kpt_cc.detach(), t.vis * closer, t.areas))
            else:
                losses["loss_oks"] = scalar(self.loss_oks(kpt_reg, t.kpt, t.vis, t.areas))
            obj_targets = obj_targets.clone()
            obj_targets[t.pos_mask] = cls_targets.pow(self.overlaps_power).detach().to(obj_targets)
        losses["loss_cls"] = self.loss_cls(f_cls.reshape(-1, self.num_classes), obj_targets, t.obj_weight) / num_total
        return losses

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        """People of each image, in input pixels: class score above ``test_cfg.score_thr`` (default 0.01), the
        ``nms_pre`` best, NMS at ``nms_thr`` (default none), keypoints from the DCC over the padded boxes,
        boxes clipped to the input. Returns what :meth:`YOLOXPoseHead.predict` returns."""
        if test_cfg.flip_test:
            feats = feats[0]  # one-stage heads have no flip test (nor have MMPose's): the original view decides
        if not hasattr(self, "dcc"):
            raise RuntimeError("RTMOHead.predict needs the DCC: set the head's dcc_cfg")
        cls, bbox, _, vis, pose_vecs = self.forward(feats)
        priors, stride = self.priors(cls)
        scores = flatten_levels(cls).sigmoid()
        boxes = decode_bbox(flatten_levels(bbox), priors[:, :2], stride)
        vis_p, f_pose = flatten_levels(vis).sigmoid(), flatten_levels(pose_vecs)
        out = []
        for i, sample in enumerate(batch.samples):
            keep = self.filter(scores[i], boxes[i], test_cfg)
            kept = boxes[i][keep]
            if len(keep):
                kpts = self.dcc(f_pose[i][keep], bbox_xyxy2cs(kept, self.bbox_padding), priors[keep, :2])
            else:
                kpts = kept.new_zeros((0, self.num_keypoints, 2))
            out.append(self.instances(scores[i].max(1)[0][keep], kept, kpts, vis_p[i][keep], sample.input_size))
        return out

    def decode_all(
        self, outputs: tuple[list[Tensor], ...], score_thr: float | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Every prior's box, best class score, DCC keypoints and visibility (see the base class); with
        ``score_thr``, the DCC runs only on priors scoring above it (the others' keypoints are zero)."""
        if not hasattr(self, "dcc"):
            raise RuntimeError("RTMOHead needs the DCC to decode keypoints: set the head's dcc_cfg")
        cls, bbox, _, vis, pose_vecs = outputs
        priors, stride = self.priors(cls)
        boxes = decode_bbox(flatten_levels(bbox), priors[:, :2], stride)
        scores = flatten_levels(cls).sigmoid().max(-1)[0]
        pose = flatten_levels(pose_vecs)
        b, p = pose.shape[:2]
        feats, grids = pose.reshape(b * p, -1), priors[:, :2].expand(b, -1, -1).reshape(b * p, 2)
        centres = bbox_xyxy2cs(boxes.reshape(b * p, 4), self.bbox_padding)
        if score_thr is None:
            kpts = self.dcc(feats, centres, grids)
        else:  # the DCC is most of the head's cost: only for the priors export_select can keep
            idx = torch.nonzero(scores.reshape(-1) > score_thr).squeeze(1)
            kpts = pose.new_zeros(b * p, self.num_keypoints, 2)
            kpts = kpts.index_put((idx,), self.dcc(feats[idx], centres[idx], grids[idx]))
        return boxes, scores, kpts.reshape(b, p, self.num_keypoints, 2), flatten_levels(vis).sigmoid()

    def export_outputs(
        self, outputs: Any, flip_outputs: Any | None, flip_indices: Any, test_cfg: TestCfg
    ) -> tuple[Tensor, ...] | None:
        """ONNX export: :meth:`decode_all` in the graph, the DCC only for priors above ``test_cfg.score_thr``
        (the threshold :meth:`export_select` applies after it); NMS and box clipping stay outside."""
        if flip_outputs is not None:
            return None
        return self.decode_all(outputs, SCORE_THR if test_cfg.score_thr is None else test_cfg.score_thr)
