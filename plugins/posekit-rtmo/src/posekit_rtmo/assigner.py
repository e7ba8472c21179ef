"""SimOTA label assignment for one-stage pose heads, as MMPose's ``SimOTAAssigner`` and ``PoseOKS``.

Dimensions: P priors (feature cells), G ground-truth people of one image, K keypoints.
Each prior inside a person's box or centre region is a candidate; the cost of a (prior, person)
pair sums ``-log IoU`` (box), ``-log OKS`` (keypoints), the classification BCE and optionally the
visibility BCE; each person takes its ``dynamic_k`` cheapest priors (k = sum of its top-10
IoUs/OKSs), a prior matched twice keeps its cheapest person.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import Tensor

from posekit_rtmo._ops import bbox_overlaps

INF = 100000.0
EPS = 1.0e-7


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoseOKSConfig(_Frozen):
    """``dict(type='PoseOKS', metainfo=...)``: a keypoint definition (registered name or YAML/JSON file) giving the
    OKS sigmas (the MMPose converter turns MMPose's ``configs/_base_/datasets/coco.py`` into ``coco``)."""

    type: Literal["PoseOKS"] = "PoseOKS"
    metainfo: str | None = "coco"


class IoUCalculatorConfig(_Frozen):
    """``dict(type='BBoxOverlaps2D')``: plain IoU of xyxy boxes."""

    type: Literal["BBoxOverlaps2D"] = "BBoxOverlaps2D"


class SimOTAConfig(_Frozen):
    """MMPose's ``assigner=dict(type='SimOTAAssigner', ...)``.

    Args:
        type: always ``SimOTAAssigner``.
        center_radius: half-size of the centre region, in strides. Default 2.5.
        candidate_topk: IoUs/OKSs summed into each person's dynamic k. Default 10.
        iou_weight: weight of the ``-log IoU`` cost. Default 3.0.
        cls_weight: weight of the classification cost. Default 1.0.
        oks_weight: weight of the ``-log OKS`` cost. Default 3.0.
        vis_weight: weight of the visibility cost. Default 0.0.
        dynamic_k_indicator: ``iou`` or ``oks`` decides k and the matched quality. Default iou.
        use_keypoints_for_center: centre regions around the visible keypoints' mean. Default False.
        iou_calculator: ``BBoxOverlaps2D``.
        oks_calculator: ``PoseOKS`` with its keypoint definition.
    """

    type: Literal["SimOTAAssigner"] = "SimOTAAssigner"
    center_radius: float = 2.5
    candidate_topk: int = 10
    iou_weight: float = 3.0
    cls_weight: float = 1.0
    oks_weight: float = 3.0
    vis_weight: float = 0.0
    dynamic_k_indicator: Literal["iou", "oks"] = "iou"
    use_keypoints_for_center: bool = False
    iou_calculator: IoUCalculatorConfig = IoUCalculatorConfig()
    oks_calculator: PoseOKSConfig = PoseOKSConfig()


class PoseOKS:
    """Object keypoint similarity of predictions against targets (broadcasting leading dims).

    ``output (..., K, 2)``, ``target (..., K, 2)``, ``target_weights (..., K)``, ``areas (...)`` -> ``oks (...)``.
    """

    def __init__(self, cfg: PoseOKSConfig) -> None:
        self.sigmas: Tensor | None = None
        if cfg.metainfo is not None:
            from posekit.metainfo import load_metainfo

            sigmas = load_metainfo(cfg.metainfo).sigmas
            if sigmas is not None:
                self.sigmas = torch.as_tensor(sigmas, dtype=torch.float32)

    @torch.no_grad()
    def __call__(
        self, output: Tensor, target: Tensor, target_weights: Tensor, areas: Tensor, eps: float = 1e-8
    ) -> Tensor:
        dist = torch.linalg.vector_norm(output - target, dim=-1)
        dist = dist / areas.unsqueeze(-1).pow(0.5).clip(min=eps)
        if self.sigmas is not None:
            dist = dist / (self.sigmas.to(dist) * 2)
        weights = target_weights / target_weights.sum(dim=-1, keepdim=True).clip(min=eps)
        return (torch.exp(-dist.pow(2) / 2) * weights).sum(dim=-1)


class SimOTAAssigner:
    """Assign priors to people of one image (see the module docstring)."""

    def __init__(self, cfg: SimOTAConfig) -> None:
        self.cfg = cfg
        self.oks_calculator = PoseOKS(cfg.oks_calculator)

    @torch.no_grad()
    def assign(
        self,
        priors: Tensor,
        bboxes: Tensor,
        scores: Tensor,
        keypoints: Tensor,
        keypoints_visible: Tensor,
        gt_bboxes: Tensor,
        gt_labels: Tensor,
        gt_keypoints: Tensor,
        gt_keypoints_visible: Tensor,
        gt_areas: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Match priors to people.

        Args:
            priors: ``(P, 4)`` ``(x, y, stride_w, stride_h)``.
            bboxes: ``(P, 4)`` predicted xyxy boxes; ``scores (P, C)`` class probabilities;
                ``keypoints (P, K, 2)``; ``keypoints_visible (P, K)`` probabilities.
            gt_bboxes: ``(G, 4)``; ``gt_labels (G,)``; ``gt_keypoints (G, K, 2)``;
                ``gt_keypoints_visible (G, K)``; ``gt_areas (G,)``.

        Returns:
            ``gt_inds (P,)`` (0: background, i: person i-1), ``max_overlaps (P,)`` (matched IoU/OKS,
            -INF elsewhere) and ``labels (P,)`` (-1 for background).
        """
        cfg = self.cfg
        num_gt, num_priors = gt_bboxes.size(0), bboxes.size(0)
        gt_inds = bboxes.new_zeros((num_priors,), dtype=torch.long)
        labels = bboxes.new_full((num_priors,), -1, dtype=torch.long)
        if num_gt == 0 or num_priors == 0:
            return gt_inds, bboxes.new_zeros((num_priors,)), labels
        valid_mask, in_box_and_center = self._candidates(priors, gt_bboxes, gt_keypoints, gt_keypoints_visible)
        num_valid = int(valid_mask.sum())
        if num_valid == 0:
            return gt_inds, bboxes.new_zeros((num_priors,)), labels
        cost = (~in_box_and_center) * INF
        ious = bbox_overlaps(bboxes[valid_mask], gt_bboxes)
        if cfg.iou_weight > 0:
            cost = cost + -torch.log(ious + EPS) * cfg.iou_weight
        oks = None
        if cfg.oks_weight > 0 or cfg.dynamic_k_indicator == "oks":
            oks = self.oks_calculator(
                keypoints[valid_mask].unsqueeze(1),
                gt_keypoints.unsqueeze(0),
                gt_keypoints_visible.unsqueeze(0),
                gt_areas.unsqueeze(0),
            )
            cost = cost + -torch.log(oks + EPS) * cfg.oks_weight
        if cfg.cls_weight > 0:
            onehot = F.one_hot(gt_labels.long(), scores.shape[-1]).float().unsqueeze(0).expand(num_valid, -1, -1)
            probs = scores[valid_mask].float().unsqueeze(1).expand(-1, num_gt, -1)
            cost = cost + F.binary_cross_entropy(probs, onehot, reduction="none").sum(-1).to(cost) * cfg.cls_weight
        if cfg.vis_weight > 0:
            vis = keypoints_visible[valid_mask].float().unsqueeze(1).expand(-1, num_gt, -1)
            gt_vis = gt_keypoints_visible.float().unsqueeze(0).expand(num_valid, -1, -1)
            cost = cost + F.binary_cross_entropy(vis, gt_vis, reduction="none").sum(-1).to(cost) * cfg.vis_weight
        quality = oks if cfg.dynamic_k_indicator == "oks" else ious
        assert quality is not None
        matched_quality, matched_gt, fg = self._dynamic_k_matching(cost, quality, num_gt)
        valid_idx = valid_mask.nonzero().squeeze(1)[fg]
        gt_inds[valid_idx] = matched_gt + 1
        labels[valid_idx] = gt_labels[matched_gt].long()
        max_overlaps = bboxes.new_full((num_priors,), -INF, dtype=torch.float32)
        max_overlaps[valid_idx] = matched_quality.float()
        return gt_inds, max_overlaps, labels

    def _candidates(
        self, priors: Tensor, gt_bboxes: Tensor, gt_keypoints: Tensor, gt_keypoints_visible: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``(P,)`` priors in any person's box or centre region; ``(P_valid, G)`` in both of a person's."""
        x, y = priors[:, 0:1], priors[:, 1:2]
        sx, sy = priors[:, 2:3], priors[:, 3:4]
        deltas = torch.stack(
            [x - gt_bboxes[:, 0], y - gt_bboxes[:, 1], gt_bboxes[:, 2] - x, gt_bboxes[:, 3] - y], dim=1
        )
        in_box = deltas.min(dim=1).values > 0
        cx = (gt_bboxes[:, 0] + gt_bboxes[:, 2]) / 2.0
        cy = (gt_bboxes[:, 1] + gt_bboxes[:, 3]) / 2.0
        if self.cfg.use_keypoints_for_center:
            vis = gt_keypoints_visible
            centers = ((gt_keypoints * vis.unsqueeze(-1)).sum(dim=-2) / vis.sum(-1, keepdim=True).clip(min=0)).to(
                gt_bboxes
            )
            has = vis.sum(-1) > 0
            cx = torch.where(has, centers[:, 0], cx)
            cy = torch.where(has, centers[:, 1], cy)
        r = self.cfg.center_radius
        ct = torch.stack([x - (cx - r * sx), y - (cy - r * sy), (cx + r * sx) - x, (cy + r * sy) - y], dim=1)
        in_center = ct.min(dim=1).values > 0
        valid = in_box.any(dim=1) | in_center.any(dim=1)
        return valid, in_box[valid] & in_center[valid]

    def _dynamic_k_matching(self, cost: Tensor, quality: Tensor, num_gt: int) -> tuple[Tensor, Tensor, Tensor]:
        """Each person's k cheapest candidates; returns matched quality, person index and the ``(P_valid,)`` fg mask."""
        matching = torch.zeros_like(cost, dtype=torch.uint8)
        topk = min(self.cfg.candidate_topk, quality.size(0))
        dynamic_ks = torch.clamp(torch.topk(quality, topk, dim=0)[0].sum(0).int(), min=1)
        for g in range(num_gt):
            pos = torch.topk(cost[:, g], k=int(dynamic_ks[g]), largest=False)[1]
            matching[:, g][pos] = 1
        multiple = matching.sum(1) > 1
        if multiple.any():
            cheapest = cost[multiple].argmin(dim=1)
            matching[multiple] = 0
            matching[multiple.nonzero().squeeze(1), cheapest] = 1
        fg = matching.sum(1) > 0
        matched_gt = matching[fg].argmax(1)
        matched_quality = (matching * quality).sum(1)[fg]
        return matched_quality, matched_gt, fg
