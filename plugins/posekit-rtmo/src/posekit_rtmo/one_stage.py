"""What YOLOX-Pose and RTMO heads share: priors, decoding, ground truth from the batch, SimOTA targets,
score/NMS filtering.

Dimensions: B images, P priors (all levels' cells, row-major, levels concatenated), K keypoints,
G people of one image. Every coordinate is in model-input pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import AfterValidator
from torch import Tensor

from posekit.errors import ConfigError
from posekit.nn import as_config
from posekit.protocols import BaseHead
from posekit.registry import build, get
from posekit.structures import InstanceData, PoseBatch, TestCfg
from posekit.types import CodecConfig, LossConfig
from posekit_rtmo._ops import PriorGeneratorConfig, filter_scores_and_topk, grid_priors, nms
from posekit_rtmo.assigner import SimOTAAssigner, SimOTAConfig

#: MMPose's defaults when ``test_cfg`` leaves them out
SCORE_THR, NMS_PRE, NMS_THR = 0.01, 100000, 1.0
#: the largest box side (in strides) :func:`decode_bbox` gives: exp of a raw size above ~88 is inf in float32,
#: and an inf box turns the DCC's bins, the keypoints and the metric's input into NaN; no trained model comes near
MAX_BBOX_STRIDES = 1.0e4


def check_decoder(head: str, decoder: Any) -> None:
    """Refuse a codec a one-stage head cannot decode with (one not declaring ``one_stage_labels``), naming both."""
    if decoder is None:
        return
    codec = decoder if not isinstance(decoder, dict) else get("codec", decoder["type"])
    if not getattr(codec, "one_stage_labels", False):
        name = codec.__name__ if isinstance(codec, type) else type(codec).__name__
        raise ConfigError(
            f"{head} cannot decode with codec {name}: it decodes its own boxes and keypoints and takes a one-stage "
            "label codec (YOLOXPoseAnnotationProcessor) as its decoder"
        )


def one_stage_decoder(head: str) -> Any:
    """The ``decoder`` field type of a one-stage head: a codec config that :func:`check_decoder` accepts."""

    def check(value: dict[str, Any] | None) -> dict[str, Any] | None:
        check_decoder(head, value)
        return value

    return Annotated[CodecConfig | None, AfterValidator(check)]


def flatten_levels(preds: list[Tensor]) -> Tensor:
    """Per-level ``(B, C, H_l, W_l)`` -> ``(B, P, C)``."""
    return torch.cat([x.permute(0, 2, 3, 1).flatten(1, 2) for x in preds], dim=1)


def decode_bbox(pred: Tensor, priors: Tensor, stride: Tensor) -> Tensor:
    """``(B, P, 4)`` ``(dx, dy, log w, log h)`` in strides -> ``(B, P, 4)`` xyxy (MMPose's decoding; sides capped
    at :data:`MAX_BBOX_STRIDES` strides, so a diverging size never becomes inf)."""
    stride = stride.view(1, -1, 1)
    xy = pred[..., :2] * stride + priors.view(1, -1, 2)
    wh = pred[..., 2:].clamp(max=math.log(MAX_BBOX_STRIDES)).exp() * stride
    return torch.cat([xy - wh / 2, xy + wh / 2], dim=-1)


def decode_kpt_reg(pred: Tensor, priors: Tensor, stride: Tensor, num_keypoints: int) -> Tensor:
    """``(B, P, 2K)`` offsets in strides -> ``(B, P, K, 2)`` keypoints."""
    pred = pred.reshape(*pred.shape[:-1], num_keypoints, 2)
    return pred * stride.view(1, -1, 1, 1) + priors.view(1, -1, 1, 2)


def bbox_aux_targets(bbox: Tensor, priors: Tensor) -> Tensor:
    """Raw box targets ``(N, 4)`` ``(dx, dy, log w, log h)`` in strides of xyxy ``bbox (N, 4)`` at ``priors (N, 4)``."""
    cxcy, wh = (bbox[:, :2] + bbox[:, 2:]) / 2.0, bbox[:, 2:] - bbox[:, :2]
    return torch.cat([(cxcy - priors[:, :2]) / priors[:, 2:], torch.log(wh / priors[:, 2:] + 1e-8)], dim=-1)


def reduce_mean(x: Tensor) -> Tensor:
    """Mean over distributed processes (x itself on one process)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return x
    x = x.clone()
    dist.all_reduce(x.div_(dist.get_world_size()))
    return x


def scalar(loss: Tensor) -> Tensor:
    """A loss tensor as the trainer sums it: its mean (MMPose's ``parse_losses``)."""
    return loss.mean() if loss.ndim else loss


@dataclass
class GroundTruth:
    """A batch's people, padded to the most of one image, G: ``bboxes (B, G, 4)``, ``labels (B, G)``,
    ``keypoints (B, G, K, 2)``, ``visible (B, G, K)``, ``areas (B, G)`` and ``mask (B, G)`` (real people)."""

    bboxes: Tensor
    labels: Tensor
    keypoints: Tensor
    visible: Tensor
    areas: Tensor
    mask: Tensor


@dataclass
class Targets:
    """SimOTA targets of a batch; ``pos_mask (B*P,)`` marks positive priors, the rest are per positive prior."""

    pos_mask: Tensor
    cls: Tensor
    obj: Tensor
    obj_weight: Tensor
    bbox: Tensor
    kpt: Tensor
    vis: Tensor
    vis_weight: Tensor
    areas: Tensor
    priors: Tensor
    num_pos: int


def _sample_ground_truth(batch: PoseBatch, i: int, num_keypoints: int) -> list[np.ndarray]:
    """Sample ``i``'s people as numpy in :class:`GroundTruth`'s order and dtypes (float32; labels int64, mask
    bool): boxes from the codec's ``bbox`` target (expand_bbox) or the sample, labels from ``bbox_labels``
    (else 0), keypoints / visibility / areas from the sample (all in input pixels)."""
    sample = batch.samples[i]
    n = sample.num_instances
    if n and sample.keypoints.shape[1] != num_keypoints:
        raise ValueError(
            f"image {sample.img_id}: {sample.keypoints.shape[1]} keypoints per person, "
            f"the head predicts {num_keypoints}"
        )

    def target(key: str, default: np.ndarray) -> np.ndarray:
        value = batch.targets.get(key)
        if value is None:
            return np.asarray(default)
        value = value[i]
        return value.cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)

    bboxes = target("bbox", sample.bbox).reshape(-1, 4)
    if len(bboxes) != n:
        raise ValueError(f"image {sample.img_id}: {len(bboxes)} boxes for {n} people")
    labels = target("bbox_labels", np.zeros(n, np.int64)).reshape(n)
    keypoints = np.asarray(sample.keypoints[..., :2]).reshape(n, num_keypoints, 2)
    visible = np.asarray(sample.keypoints_visible).reshape(n, num_keypoints)
    area = np.asarray(sample.area if len(sample.area) == n else np.zeros(n), np.float32).reshape(n)
    return [
        bboxes.astype(np.float32),
        labels.astype(np.int64),
        keypoints.astype(np.float32),
        visible.astype(np.float32),
        area,
        np.ones(n, bool),
    ]


def ground_truth(batch: PoseBatch, num_keypoints: int, like: Tensor) -> GroundTruth:
    """Every sample's people (see :func:`_sample_ground_truth`), padded to the batch's most and moved to
    ``like``'s device in one transfer per field (float fields as float32, then in ``like``'s dtype)."""
    per_sample = [_sample_ground_truth(batch, i, num_keypoints) for i in range(len(batch))]
    most = max((len(fields[0]) for fields in per_sample), default=0)
    out = []
    for parts in zip(*per_sample, strict=True):
        padded = np.zeros((len(parts), most, *parts[0].shape[1:]), parts[0].dtype)
        for i, part in enumerate(parts):
            padded[i, : len(part)] = part
        value = torch.from_numpy(padded).to(like.device)
        out.append(value.to(like.dtype) if value.is_floating_point() else value)
    return GroundTruth(*out)


#: the losses both heads build when their config leaves them out
DEFAULT_LOSSES: dict[str, dict[str, Any]] = {
    "loss_bbox": {"type": "IoULoss"},
    "loss_oks": {"type": "OKSLoss", "reduction": "none"},
    "loss_vis": {"type": "BCELoss", "use_target_weight": True},
}


class OneStageHead(BaseHead):
    """Base of YOLOX-Pose / RTMO heads: priors, SimOTA targets and filtering (subclasses add the branches).

    A one-stage head predicts boxes too: ``predict`` returns ``InstanceData`` with ``bboxes (N, 4)``
    (xyxy, input pixels) and ``instance_scores``, which the bottom-up estimator maps to the image.
    """

    num_keypoints: int
    featmap_strides: tuple[int, ...]

    def _init_common(
        self,
        num_keypoints: int,
        featmap_strides: tuple[int, ...],
        num_classes: int,
        prior_generator: PriorGeneratorConfig | dict[str, Any] | None,
        assigner: SimOTAConfig | dict[str, Any] | None,
        decoder: dict[str, Any] | None,
    ) -> None:
        self.num_keypoints = num_keypoints
        self.num_classes = num_classes
        self.featmap_strides = tuple(featmap_strides)
        name = type(self).__name__
        if prior_generator is None:
            prior_generator = PriorGeneratorConfig(strides=self.featmap_strides)
        self.prior_cfg = as_config(PriorGeneratorConfig, prior_generator, "prior_generator")
        if len(self.prior_cfg.strides) != len(self.featmap_strides):
            raise ConfigError(
                f"{name}: prior_generator has {len(self.prior_cfg.strides)} strides, "
                f"featmap_strides {len(self.featmap_strides)}"
            )
        self.assigner = SimOTAAssigner(as_config(SimOTAConfig, assigner or {}, "assigner"))
        check_decoder(name, decoder)
        self.decoder = build("codec", decoder, where="decoder") if decoder is not None else None

    def _build_losses(self, **losses: LossConfig | None) -> None:
        """``self.<name>`` for each loss config, else its :data:`DEFAULT_LOSSES` entry; none without either."""
        for name, cfg in losses.items():
            cfg = cfg or DEFAULT_LOSSES.get(name)
            if cfg is not None:
                setattr(self, name, build("loss", cfg, where=name))

    def priors(self, maps: list[Tensor]) -> tuple[Tensor, Tensor]:
        """``(P, 4)`` priors ``(x, y, stride_w, stride_h)`` of the level maps and their strides ``(P,)``."""
        sizes = [tuple(m.shape[2:]) for m in maps]
        pri = grid_priors(self.prior_cfg, sizes, maps[0].dtype, maps[0].device)
        return pri, pri[:, 2]

    @torch.no_grad()
    def targets(
        self,
        priors: Tensor,
        cls_scores: Tensor,
        objectness: Tensor,
        bboxes: Tensor,
        keypoints: Tensor,
        kpt_vis: Tensor,
        batch: PoseBatch,
    ) -> Targets:
        """SimOTA targets from detached logits ``cls (B, P, C)``, ``obj (B, P, 1)``, decoded boxes and keypoints,
        visibility logits."""
        cls_p = torch.nan_to_num(cls_scores.clip(-1e4, 1e4).sigmoid(), nan=0.0)
        obj_p = torch.nan_to_num(objectness.clip(-1e4, 1e4).sigmoid(), nan=0.0)
        vis_p = kpt_vis.clip(-1e4, 1e4).sigmoid()
        gt = ground_truth(batch, self.num_keypoints, bboxes)
        num_images, num_priors = bboxes.shape[:2]
        if gt.mask.any():
            gt_inds, overlaps, labels = self.assigner.assign(
                priors, bboxes, (cls_p * obj_p).sqrt(), keypoints, vis_p,
                gt.bboxes, gt.labels, gt.keypoints, gt.visible, gt.areas, gt.mask,
            )  # fmt: skip
        else:
            gt_inds = torch.zeros((num_images, num_priors), dtype=torch.long, device=bboxes.device)
            overlaps, labels = bboxes.new_zeros((num_images, num_priors)), torch.full_like(gt_inds, -1)
        pos_mask = gt_inds.reshape(-1) > 0
        pos = torch.nonzero(pos_mask).squeeze(-1)
        image, assigned = pos // num_priors, gt_inds.reshape(-1)[pos] - 1
        obj = pos_mask.to(obj_p.dtype).unsqueeze(-1)
        visible = gt.visible[image, assigned]
        return Targets(
            pos_mask=pos_mask,
            cls=F.one_hot(labels.reshape(-1)[pos], self.num_classes) * overlaps.reshape(-1)[pos].unsqueeze(-1),
            obj=obj,
            obj_weight=torch.ones_like(obj),
            bbox=gt.bboxes[image, assigned],
            kpt=gt.keypoints[image, assigned],
            vis=visible,
            vis_weight=torch.ones_like(visible),
            areas=gt.areas[image, assigned],
            priors=priors[pos % num_priors],
            num_pos=len(pos),
        )

    def assign(
        self, cls: Tensor, obj: Tensor, bbox: Tensor, kpt: Tensor, vis: Tensor, priors: Tensor, batch: PoseBatch
    ) -> tuple[Tensor, Tensor, Targets, float]:
        """Flattened raw ``bbox (B, P, 4)`` / ``kpt (B, P, 2K)`` decoded to input pixels (``(B, P, 4)``,
        ``(B, P, K, 2)``), the SimOTA :meth:`targets` of the detached predictions, and the positives' count
        averaged over processes (at least 1)."""
        d_bbox = decode_bbox(bbox, priors[:, :2], priors[:, 2])
        d_kpt = decode_kpt_reg(kpt, priors[:, :2], priors[:, 2], self.num_keypoints)
        t = self.targets(priors, cls.detach(), obj.detach(), d_bbox.detach(), d_kpt.detach(), vis.detach(), batch)
        num_total = max(float(reduce_mean(torch.tensor(float(t.num_pos), device=cls.device))), 1.0)
        return d_bbox, d_kpt, t, num_total

    def decode_all(self, outputs: tuple[list[Tensor], ...]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Every prior's person, graph-friendly: ``bboxes (B, P, 4)`` xyxy, ``scores (B, P)``, ``keypoints
        (B, P, K, 2)`` and ``keypoint_scores (B, P, K)`` in input pixels (before thresholds and NMS)."""
        raise NotImplementedError

    def export_outputs(
        self, outputs: Any, flip_outputs: Any | None, flip_indices: Any, test_cfg: TestCfg
    ) -> tuple[Tensor, ...] | None:
        """ONNX export: :meth:`decode_all` of every prior, decoded in the graph; score threshold, NMS and box
        clipping stay outside (:meth:`export_select`). No flip test (None with flipped outputs)."""
        return None if flip_outputs is not None else self.decode_all(outputs)

    @staticmethod
    def filter(scores: Tensor, bboxes: Tensor, test_cfg: TestCfg) -> Tensor:
        """Indices of priors kept for one image: score above ``score_thr``, the ``nms_pre`` best, then NMS."""
        score_thr = SCORE_THR if test_cfg.score_thr is None else test_cfg.score_thr
        nms_pre = NMS_PRE if test_cfg.nms_pre is None else test_cfg.nms_pre
        nms_thr = NMS_THR if test_cfg.nms_thr is None else test_cfg.nms_thr
        best, keep = filter_scores_and_topk(scores.max(1, keepdim=True)[0], score_thr, nms_pre)
        if len(keep) and nms_thr < 1.0:
            keep = keep[nms(bboxes[keep], best, nms_thr)]
        return keep

    @staticmethod
    def instances(
        scores: Tensor, boxes: Tensor, kpts: Tensor, vis: Tensor, input_size: tuple[int, int]
    ) -> InstanceData:
        """Kept people of one image as numpy, boxes clipped to the input ``(w, h)``."""
        boxes = boxes.clone()
        w, h = input_size
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        vis_np = vis.detach().float().cpu().numpy()
        return InstanceData(
            keypoints=kpts.detach().float().cpu().numpy(),
            keypoint_scores=vis_np,
            keypoints_visible=vis_np.copy(),
            instance_scores=scores.detach().float().cpu().numpy(),
            bboxes=boxes.detach().float().cpu().numpy(),
        )

    @classmethod
    def export_select(
        cls, outputs: Sequence[Tensor], test_cfg: TestCfg, input_size: tuple[int, int]
    ) -> list[InstanceData]:
        """After the exported graph (:meth:`export_outputs`: ``bboxes (B, P, 4)``, ``scores (B, P)``, ``keypoints
        (B, P, K, 2)``, ``keypoint_scores (B, P, K)``): per image, what ``predict`` keeps (see :meth:`filter`),
        boxes clipped to ``input_size (w, h)``."""
        bboxes, scores, keypoints, keypoint_scores = (torch.as_tensor(o) for o in outputs)
        out = []
        for b, s, k, v in zip(bboxes, scores, keypoints, keypoint_scores, strict=True):
            keep = cls.filter(s[:, None], b, test_cfg)
            out.append(cls.instances(s[keep], b[keep], k[keep], v[keep], input_size))
        return out
