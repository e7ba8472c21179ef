"""Training losses of EDPoseHead: this plugin's, since MMPose 1.3.2's ``EDPoseHead.loss`` returns nothing.

ED-Pose's set-prediction losses (the paper's, without its denoising queries and its OKS term), for every stage
as its auxiliary losses: the encoder's proposals, each box decoder layer (Q people, no keypoints) and each keypoint
decoder layer (G people). Each stage's people are matched one to one with the image's N people (Hungarian
matching, :func:`scipy.optimize.linear_sum_assignment`) on a cost of class (focal), box L1, box GIoU and, with
keypoints, visible-keypoint L1; then

- ``loss_cls``: sigmoid focal loss (alpha 0.25, gamma 2) of every person and class, matched people positive for
  the person class (class 1, COCO's person category id, or the only class), over N;
- ``loss_bbox`` (L1) and ``loss_giou`` (1 - GIoU) of matched boxes ``(cx, cy, w, h)``, over N;
- ``loss_kpt``: L1 of matched visible keypoints, over N (stages with keypoints).

Weights are ED-Pose's: class 2, box L1 5, GIoU 2, keypoints 10. Targets are EDPoseLabel's (fractions of the
input): ``bbox (N, 4)``, ``keypoints (N, K, 2)``, ``keypoints_visible (N, K)`` per image.

Dimensions: B batch, G people predicted, N people annotated, K keypoints, C classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from posekit.structures import PoseBatch

W_CLS, W_BOX, W_GIOU, W_KPT = 2.0, 5.0, 2.0, 10.0
ALPHA, GAMMA = 0.25, 2.0


def _xyxy(box: Tensor) -> Tensor:
    return torch.cat((box[..., :2] - box[..., 2:] / 2, box[..., :2] + box[..., 2:] / 2), -1)


def giou(a: Tensor, b: Tensor) -> Tensor:
    """Generalized IoU of every pair of ``a (G, 4)`` and ``b (N, 4)`` boxes (cx, cy, w, h): ``(G, N)``."""
    a, b = _xyxy(a), _xyxy(b)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    inter = (torch.min(a[:, None, 2:], b[None, :, 2:]) - torch.max(a[:, None, :2], b[None, :, :2])).clamp(min=0)
    inter = inter.prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    hull = (torch.max(a[:, None, 2:], b[None, :, 2:]) - torch.min(a[:, None, :2], b[None, :, :2])).prod(-1)
    iou = inter / union.clamp(min=1e-6)
    return iou - (hull - union) / hull.clamp(min=1e-6)


def _target(batch: PoseBatch, key: str, i: int, like: Tensor) -> Tensor:
    if key not in batch.targets:
        raise KeyError(
            f"EDPoseHead.loss needs batch.targets[{key!r}] (it has {sorted(batch.targets)}): "
            "the training pipeline's GenerateTarget must use an EDPoseLabel encoder"
        )
    return torch.as_tensor(batch.targets[key][i]).to(like)


def _focal(logits: Tensor, target: Tensor) -> Tensor:
    """Element-wise sigmoid focal loss."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    return ce * (1 - p_t) ** GAMMA * (ALPHA * target + (1 - ALPHA) * (1 - target))


def match(
    logit: Tensor, box: Tensor, xy: Tensor | None, gt_box: Tensor, gt_xy: Tensor, gt_vis: Tensor, person: int
) -> tuple[Tensor, Tensor]:
    """Hungarian matching of one image's G predictions to its N people (keypoints ``xy (G, K, 2)`` or None):
    ``(pred indices, gt indices)``."""
    p = logit[:, person].sigmoid()
    cost_cls = ALPHA * (1 - p) ** GAMMA * -(p + 1e-8).log() - (1 - ALPHA) * p**GAMMA * -(1 - p + 1e-8).log()
    cost = W_CLS * cost_cls[:, None] + W_BOX * torch.cdist(box, gt_box, p=1) - W_GIOU * giou(box, gt_box)
    if xy is not None:
        cost_kpt = ((xy[:, None] - gt_xy[None]).abs().sum(-1) * gt_vis[None]).sum(-1)  # (G, N)
        cost = cost + W_KPT * cost_kpt / gt_vis.sum(-1).clamp(min=1)[None]
    rows, cols = linear_sum_assignment(cost.detach().cpu().numpy())
    return torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)


def set_losses(logits: Tensor, boxes: Tensor, kpts: Tensor | None, batch: PoseBatch) -> dict[str, Tensor]:
    """The weighted losses of one stage's ``logits (B, G, C)``, ``boxes (B, G, 4)`` and ``kpts (B, G, 3K)`` (or
    None: no ``loss_kpt``) against ``batch``'s EDPoseLabel targets."""
    b, g, c = logits.shape
    k = _target(batch, "keypoints_visible", 0, boxes).shape[-1] if kpts is None else kpts.shape[-1] // 3
    xy = None if kpts is None else kpts[..., : 2 * k].reshape(b, g, k, 2)
    person = min(1, c - 1)
    cls_target = torch.zeros_like(logits)
    box_l1 = giou_l = kpt_l1 = logits.new_zeros(())
    num = 0
    for i in range(b):
        gt_box = _target(batch, "bbox", i, boxes).reshape(-1, 4)
        gt_xy = _target(batch, "keypoints", i, boxes)[..., :2].reshape(-1, k, 2)
        gt_vis = (_target(batch, "keypoints_visible", i, boxes).reshape(-1, k) > 0).to(boxes)
        if not len(gt_box):
            continue
        with torch.no_grad():
            rows, cols = match(logits[i], boxes[i], None if xy is None else xy[i], gt_box, gt_xy, gt_vis, person)
        num += len(cols)
        cls_target[i, rows, person] = 1.0
        box_l1 = box_l1 + (boxes[i, rows] - gt_box[cols]).abs().sum()
        giou_l = giou_l + (1 - giou(boxes[i, rows], gt_box[cols]).diagonal()).sum()
        if xy is not None:
            kpt_l1 = kpt_l1 + ((xy[i, rows] - gt_xy[cols]).abs().sum(-1) * gt_vis[cols]).sum()
    norm = float(max(num, 1))
    losses = {
        "loss_cls": W_CLS * _focal(logits, cls_target).sum() / norm,
        "loss_bbox": W_BOX * box_l1 / norm,
        "loss_giou": W_GIOU * giou_l / norm,
    }
    if xy is not None:
        losses["loss_kpt"] = W_KPT * kpt_l1 / norm
    return losses


def stage_losses(outputs: dict[str, tuple[Tensor, Tensor, Tensor | None]], batch: PoseBatch) -> dict[str, Tensor]:
    """The last stage's losses (``loss_cls``, ``loss_bbox``, ``loss_giou``, ``loss_kpt``) and each earlier
    stage's sum as ``loss_<stage>`` (``outputs``: stage name -> logits, boxes, keypoints, in order)."""
    *earlier, last = outputs
    losses = set_losses(*outputs[last], batch)
    for name in earlier:
        losses[f"loss_{name}"] = sum(set_losses(*outputs[name], batch).values())
    return losses
