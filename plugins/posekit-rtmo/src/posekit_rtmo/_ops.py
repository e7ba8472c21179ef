"""Box and prior helpers of the one-stage heads (torch ops only).

- :class:`PriorGeneratorConfig` / :func:`grid_priors`: MMPose's ``MlvlPointGenerator`` points
  ``(N, 4)`` = ``(x, y, stride_w, stride_h)`` per feature cell, levels concatenated, row-major;
- :func:`bbox_overlaps`: IoU of ``xyxy`` boxes, pairwise ``(N, M)`` or aligned ``(N,)``;
- :func:`nms`: greedy NMS as MMPose's ``nms_torch``;
- :func:`filter_scores_and_topk`, :func:`bbox_xyxy2cs`.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor


class PriorGeneratorConfig(BaseModel):
    """MMPose's ``prior_generator=dict(type='MlvlPointGenerator', ...)``.

    Args:
        type: always ``MlvlPointGenerator``.
        strides: stride of each level (int, or (w, h)).
        offset: point offset in strides. Default 0.5.
        centralize_points: add ``(stride - 1) / 2`` (offset then 0). Default False.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["MlvlPointGenerator"] = "MlvlPointGenerator"
    strides: tuple[int | tuple[int, int], ...]
    offset: float = 0.5
    centralize_points: bool = False


def grid_priors(
    cfg: PriorGeneratorConfig, featmap_sizes: list[tuple[int, int]], dtype: torch.dtype, device: torch.device
) -> Tensor:
    """Points of every level's cells ``(sum h*w, 4)`` as ``(x, y, stride_w, stride_h)`` in input pixels."""
    offset = 0.0 if cfg.centralize_points else cfg.offset
    out = []
    for (h, w), s in zip(featmap_sizes, cfg.strides, strict=True):
        sw, sh = (s, s) if isinstance(s, int) else s
        xs = ((torch.arange(w, device=device) + offset) * sw).to(dtype)
        ys = ((torch.arange(h, device=device) + offset) * sh).to(dtype)
        if cfg.centralize_points:
            xs, ys = xs + (sw - 1) / 2.0, ys + (sh - 1) / 2.0
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        xx, yy = xx.reshape(-1), yy.reshape(-1)
        out.append(torch.stack([xx, yy, torch.full_like(xx, sw), torch.full_like(yy, sh)], dim=-1))
    return torch.cat(out)


def bbox_overlaps(boxes1: Tensor, boxes2: Tensor, is_aligned: bool = False, eps: float = 1e-6) -> Tensor:
    """IoU of ``xyxy`` boxes: ``(N, M)`` pairwise, or ``(N,)`` for aligned pairs."""
    area1 = (boxes1[..., 2] - boxes1[..., 0]) * (boxes1[..., 3] - boxes1[..., 1])
    area2 = (boxes2[..., 2] - boxes2[..., 0]) * (boxes2[..., 3] - boxes2[..., 1])
    if is_aligned:
        lt = torch.max(boxes1[..., :2], boxes2[..., :2])
        rb = torch.min(boxes1[..., 2:], boxes2[..., 2:])
        wh = (rb - lt).clamp(min=0)
        overlap = wh[..., 0] * wh[..., 1]
        union = area1 + area2 - overlap
    else:
        lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])
        rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
        wh = (rb - lt).clamp(min=0)
        overlap = wh[..., 0] * wh[..., 1]
        union = area1[:, None] + area2[None, :] - overlap
    return overlap / union.clamp(min=eps)


def nms(boxes: Tensor, scores: Tensor, threshold: float) -> Tensor:
    """Greedy NMS: indices of the kept ``(N, 4)`` boxes, highest score first (IoU > threshold suppressed)."""
    order = scores.sort(descending=True)[1]
    ious = bbox_overlaps(boxes, boxes)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= ious[i] > threshold
    return torch.as_tensor(keep, dtype=torch.long, device=boxes.device)


def filter_scores_and_topk(scores: Tensor, score_thr: float, topk: int) -> tuple[Tensor, Tensor]:
    """Scores ``(N, 1)`` above ``score_thr``, the ``topk`` best, sorted: ``(scores (M,), indices (M,))``."""
    valid = scores > score_thr
    kept = scores[valid]
    idxs = torch.nonzero(valid)
    kept, order = kept.sort(descending=True)
    num = min(topk, idxs.size(0))
    return kept[:num], idxs[order[:num], 0]


def bbox_xyxy2cs(boxes: Tensor, padding: float = 1.0) -> Tensor:
    """``(N, 4)`` xyxy boxes -> ``(N, 4)`` ``(cx, cy, w * padding, h * padding)``."""
    return torch.cat([(boxes[..., 2:] + boxes[..., :2]) * 0.5, (boxes[..., 2:] - boxes[..., :2]) * padding], dim=-1)
