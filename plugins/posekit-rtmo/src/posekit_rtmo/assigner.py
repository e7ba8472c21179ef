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
#: PoseOKS counts exp of what lies below as 0 (under 2e-35): the CPU's exp takes ~100x longer on arguments
#: near or past float32's smallest normal (-87.3), as an untrained head's far keypoints give
EXP_FLOOR = -80.0


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
        exponent = -dist.pow(2) / 2
        similarity = torch.exp(exponent.clamp(min=EXP_FLOOR)).masked_fill(exponent < EXP_FLOOR, 0.0)
        return (similarity * weights).sum(dim=-1)


class SimOTAAssigner:
    """Assign priors to people, every image of a batch at once (see the module docstring).

    People are padded to the batch's most, G; ``gt_mask (B, G)`` marks the real ones. A padded person and a
    prior outside every person's box and centre region cost ``inf``, so neither is ever matched.
    """

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
        gt_mask: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Match priors to people.

        Args:
            priors: ``(P, 4)`` ``(x, y, stride_w, stride_h)``.
            bboxes: ``(B, P, 4)`` predicted xyxy boxes; ``scores (B, P, C)`` class probabilities;
                ``keypoints (B, P, K, 2)``; ``keypoints_visible (B, P, K)`` probabilities.
            gt_bboxes: ``(B, G, 4)``; ``gt_labels (B, G)``; ``gt_keypoints (B, G, K, 2)``;
                ``gt_keypoints_visible (B, G, K)``; ``gt_areas (B, G)``; ``gt_mask (B, G)`` real people.

        Returns:
            ``gt_inds (B, P)`` (0: background, i: person i-1), ``max_overlaps (B, P)`` (matched IoU/OKS,
            -INF elsewhere) and ``labels (B, P)`` (-1 for background).
        """
        cfg = self.cfg
        valid, in_box_and_center = self._candidates(priors, gt_bboxes, gt_keypoints, gt_keypoints_visible, gt_mask)
        cost = (~in_box_and_center) * INF
        ious = bbox_overlaps(bboxes.unsqueeze(2), gt_bboxes.unsqueeze(1), is_aligned=True)
        if cfg.iou_weight > 0:
            cost = cost + -torch.log(ious + EPS) * cfg.iou_weight
        oks = None
        if cfg.oks_weight > 0 or cfg.dynamic_k_indicator == "oks":
            oks = self.oks_calculator(
                keypoints.unsqueeze(2),
                gt_keypoints.unsqueeze(1),
                gt_keypoints_visible.unsqueeze(1),
                gt_areas.unsqueeze(1),
            )
            cost = cost + -torch.log(oks + EPS) * cfg.oks_weight
        num_gt, num_priors = gt_bboxes.size(1), priors.size(0)
        if cfg.cls_weight > 0:
            onehot = F.one_hot(gt_labels.long(), scores.shape[-1]).float().unsqueeze(1)
            probs = scores.float().unsqueeze(2)
            shape = (-1, num_priors, num_gt, scores.shape[-1])
            bce = F.binary_cross_entropy(probs.expand(shape), onehot.expand(shape), reduction="none")
            cost = cost + bce.sum(-1).to(cost) * cfg.cls_weight
        if cfg.vis_weight > 0:
            shape = (-1, num_priors, num_gt, keypoints_visible.shape[-1])
            vis = keypoints_visible.float().unsqueeze(2).expand(shape)
            gt_vis = gt_keypoints_visible.float().unsqueeze(1).expand(shape)
            cost = cost + F.binary_cross_entropy(vis, gt_vis, reduction="none").sum(-1).to(cost) * cfg.vis_weight
        candidate = valid.unsqueeze(2) & gt_mask.unsqueeze(1)
        cost = cost.masked_fill(~candidate, float("inf"))
        quality = oks if cfg.dynamic_k_indicator == "oks" else ious
        assert quality is not None
        quality = quality.masked_fill(~candidate, 0.0)
        matched_quality, matched_gt, fg = self._dynamic_k_matching(cost, quality, candidate)
        gt_inds = torch.where(fg, matched_gt + 1, 0)
        labels = torch.where(fg, gt_labels.long().gather(1, matched_gt), -1)
        max_overlaps = torch.where(fg, matched_quality.float(), -INF)
        return gt_inds, max_overlaps, labels

    def _candidates(
        self, priors: Tensor, gt_bboxes: Tensor, gt_keypoints: Tensor, gt_keypoints_visible: Tensor, gt_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``(B, P)`` priors in any real person's box or centre region; ``(B, P, G)`` in both of a person's."""
        x, y = priors[:, 0:1], priors[:, 1:2]
        sx, sy = priors[:, 2:3], priors[:, 3:4]
        x0, y0, x1, y1 = (gt_bboxes[..., i].unsqueeze(1) for i in range(4))
        in_box = torch.stack([x - x0, y - y0, x1 - x, y1 - y], dim=2).min(dim=2).values > 0
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        if self.cfg.use_keypoints_for_center:
            vis = gt_keypoints_visible
            centers = ((gt_keypoints * vis.unsqueeze(-1)).sum(dim=-2) / vis.sum(-1, keepdim=True).clip(min=0)).to(
                gt_bboxes
            )
            has = (vis.sum(-1) > 0).unsqueeze(1)
            cx = torch.where(has, centers[..., 0].unsqueeze(1), cx)
            cy = torch.where(has, centers[..., 1].unsqueeze(1), cy)
        r = self.cfg.center_radius
        ct = torch.stack([x - (cx - r * sx), y - (cy - r * sy), (cx + r * sx) - x, (cy + r * sy) - y], dim=2)
        in_center = ct.min(dim=2).values > 0
        real = gt_mask.unsqueeze(1)
        valid = ((in_box | in_center) & real).any(dim=2)
        return valid, in_box & in_center

    def _dynamic_k_matching(self, cost: Tensor, quality: Tensor, candidate: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Each person's k cheapest candidates among ``cost (B, P, G)``; returns matched quality, person index
        and the fg mask, each ``(B, P)``."""
        topk = min(self.cfg.candidate_topk, quality.size(1))
        dynamic_ks = torch.clamp(torch.topk(quality, topk, dim=1)[0].sum(1).int(), min=1)
        kmax = int(dynamic_ks.max())
        cheapest = torch.topk(cost, kmax, dim=1, largest=False)[1]
        ranks = torch.arange(kmax, device=cost.device).view(1, -1, 1)
        matching = torch.zeros_like(candidate).scatter_(1, cheapest, ranks < dynamic_ks.unsqueeze(1)) & candidate
        multiple = matching.sum(2) > 1
        best = F.one_hot(cost.argmin(dim=2), cost.size(2)).bool()
        matching = torch.where(multiple.unsqueeze(2), best, matching)
        fg = matching.any(dim=2)
        matched_gt = matching.to(torch.uint8).argmax(dim=2)
        matched_quality = (matching * quality).sum(2)
        return matched_quality, matched_gt, fg
