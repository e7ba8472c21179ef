"""Typed structures that flow between pipeline, model and metrics.

Dimensions: N instances, K keypoints, D coordinate dims (2 or 3), B batch size.
Image-space values are in original image pixels; ``input``-space values are in the
model input's pixels (after ``TopdownAffine`` / ``BottomupResize``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor


def _empty(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


@dataclass
class PoseSample:
    """One sample as the data pipeline builds it (a person crop, an image, or a 2D sequence).

    Datasets fill the annotation fields; transforms update them in place; ``GenerateTarget``
    fills ``targets`` with the codec's ``encode`` output; ``PackPoseInputs`` sets ``inputs``.
    """

    img_id: int = -1
    id: int = -1  # annotation id (top-down) or -1 (bottom-up, lifting)
    img_path: str = ""
    img: np.ndarray | None = None  # (H, W, 3) uint8, BGR; dropped after packing
    ori_shape: tuple[int, int] = (0, 0)  # (h, w) of the image on disk
    img_shape: tuple[int, int] = (0, 0)  # (h, w) of ``img`` now
    img_mask: np.ndarray | None = None  # (H, W) optional mask of the image, flipped with it (MMPose's img_mask)
    category_id: int = 1
    bbox: np.ndarray = field(default_factory=lambda: _empty(0, 4))  # (N, 4) xyxy, image space
    bbox_score: np.ndarray = field(default_factory=lambda: _empty(0))  # (N,)
    bbox_center: np.ndarray = field(default_factory=lambda: _empty(0, 2))  # (N, 2)
    bbox_scale: np.ndarray = field(default_factory=lambda: _empty(0, 2))  # (N, 2) w, h
    bbox_rotation: np.ndarray = field(default_factory=lambda: _empty(0))  # (N,) degrees
    keypoints: np.ndarray = field(default_factory=lambda: _empty(0, 0, 2))  # (N, K, D)
    keypoints_visible: np.ndarray = field(default_factory=lambda: _empty(0, 0))  # (N, K) in [0, 1]
    area: np.ndarray = field(default_factory=lambda: _empty(0))  # (N,)
    iscrowd: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,)
    num_keypoints: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,)
    crowd_index: float | None = None  # CrowdPose's per-image crowd index
    invalid_segs: list[Any] = field(default_factory=list)  # crowd/ignore polygons (bottom-up)
    flip_indices: list[int] = field(default_factory=list)  # keypoint index after a horizontal flip
    upper_body_ids: list[int] = field(default_factory=list)  # from the keypoint definition (RandomHalfBody)
    lower_body_ids: list[int] = field(default_factory=list)  # from the keypoint definition (RandomHalfBody)
    dataset_keypoint_weights: np.ndarray | None = None  # (K,) from the keypoint definition (GenerateTarget)
    rng: np.random.Generator | None = None  # per-sample generator seeded by the dataset (see posekit.transforms)
    flip: bool = False
    flip_direction: str | None = None
    input_size: tuple[int, int] = (0, 0)  # (w, h) of the model input
    input_center: np.ndarray = field(default_factory=lambda: _empty(2))  # (2,) image space
    input_scale: np.ndarray = field(default_factory=lambda: _empty(2))  # (2,) image space w, h
    warp_mat: np.ndarray | None = None  # (2, 3) image -> input
    transformed_keypoints: np.ndarray | None = None  # (N, K, D) input space (TopdownAffine); keypoints stay image space
    # lifting
    lifting_target: np.ndarray | None = None  # (N, K, 3) 3D target frame(s)
    lifting_target_visible: np.ndarray | None = None  # (N, K)
    camera_param: dict[str, Any] | None = None
    target_root: np.ndarray | None = None  # (N, 3) root removed by the codec
    # produced by GenerateTarget / PackPoseInputs
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: Tensor | None = None  # (C, H, W) uint8 / float, or (C, T) for lifting
    extra: dict[str, Any] = field(default_factory=dict)  # dataset-specific values, read by metrics

    @property
    def num_instances(self) -> int:
        return int(self.keypoints.shape[0])

    def select_instances(self, keep: np.ndarray) -> None:
        """Keep the instances where the bool mask ``keep`` (N,) is set (in place): in each field of
        :data:`INSTANCE_FIELDS` with one row per instance, and in ``extra``'s arrays and lists of length N."""
        n = self.num_instances
        for name in INSTANCE_FIELDS:
            value = getattr(self, name)
            if len(value) == n:
                setattr(self, name, value[keep])
        for key, value in list(self.extra.items()):
            if isinstance(value, np.ndarray) and len(value) == n:
                self.extra[key] = value[keep]
            elif isinstance(value, list) and len(value) == n:
                self.extra[key] = [v for v, k in zip(value, keep, strict=True) if k]


#: the :class:`PoseSample` fields that hold one row per instance (when the dataset filled them)
INSTANCE_FIELDS: tuple[str, ...] = (
    "bbox",
    "bbox_score",
    "bbox_center",
    "bbox_scale",
    "bbox_rotation",
    "keypoints",
    "keypoints_visible",
    "area",
    "iscrowd",
    "num_keypoints",
)


@dataclass
class PoseBatch:
    """A collated batch: stacked inputs and targets, and the samples' metadata.

    ``inputs`` is ``(B, C, H, W)`` (``(B, C, T)`` for lifting) after the data
    preprocessor. ``targets[key]`` is a stacked tensor when every sample's target has
    the same shape (``heatmaps (B, K, H, W)``, ``keypoint_weights (B, N, K)``), else a
    list of per-sample tensors. ``samples`` keep metadata (images dropped).
    """

    inputs: Tensor
    targets: dict[str, Tensor | list[Tensor]]
    samples: list[PoseSample]

    def __len__(self) -> int:
        return len(self.samples)

    def instance_targets(self, key: str, like: Tensor | None = None) -> Tensor:
        """``targets[key]`` per instance: ``(B, N, ...)`` stacked or a list of ``(N_i, ...)`` -> ``(sum N, ...)``.

        ``like``: a tensor whose device and dtype the result takes (a head's prediction).
        """
        if key not in self.targets:
            raise KeyError(
                f"batch.targets has no {key!r} (it has {sorted(self.targets)}); "
                "does the pipeline's GenerateTarget use the head's codec?"
            )
        value = self.targets[key]
        out = torch.cat([torch.as_tensor(v) for v in value]) if isinstance(value, list) else value.flatten(0, 1)
        return out.to(like) if like is not None else out

    def _map(self, fn: Callable[[Tensor], Tensor]) -> PoseBatch:
        """The batch with ``fn`` applied to ``inputs`` and to every target tensor (each of a list too)."""

        def each(t: Tensor | list[Tensor]) -> Tensor | list[Tensor]:
            return [fn(x) for x in t] if isinstance(t, list) else fn(t)

        return PoseBatch(fn(self.inputs), {k: each(v) for k, v in self.targets.items()}, self.samples)

    def pin_memory(self) -> PoseBatch:
        """Page-locked copies of inputs and targets (called by DataLoader(pin_memory=True))."""
        return self._map(Tensor.pin_memory)

    def to(self, device: torch.device | str) -> PoseBatch:
        """Move inputs and targets to ``device`` (non-blocking where possible)."""
        return self._map(lambda t: t.to(device, non_blocking=True))


@dataclass
class InstanceData:
    """Decoded instances of one sample in the model's input space.

    ``keypoints`` (N, K, D), ``keypoint_scores`` (N, K); optional ``keypoints_visible``
    (N, K), per-instance ``instance_scores`` (N,) (bottom-up), raw ``heatmaps``, and ``bboxes``
    (N, 4) xyxy in input pixels from heads that predict boxes (one-stage heads; otherwise the
    estimator derives boxes from the keypoints).
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    keypoints_visible: np.ndarray | None = None
    instance_scores: np.ndarray | None = None
    heatmaps: np.ndarray | None = None
    keypoint_x_labels: np.ndarray | None = None  # (N, K, Wx) SimCC x vectors, with ``output_heatmaps``
    keypoint_y_labels: np.ndarray | None = None  # (N, K, Wy) SimCC y vectors, with ``output_heatmaps``
    bboxes: np.ndarray | None = None  # (N, 4) xyxy input space, from heads that predict boxes
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # a head's other decoded values (InterNet's hand_type)


@dataclass
class PoseResult:
    """The prediction for one sample, in original image space.

    ``keypoints`` (N, K, D), ``keypoint_scores`` (N, K), ``bboxes`` (N, 4) xyxy,
    ``bbox_scores`` (N,). ``sample`` is the input sample (metadata only).
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    bboxes: np.ndarray
    bbox_scores: np.ndarray
    sample: PoseSample
    keypoints_visible: np.ndarray | None = None
    heatmaps: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # the head's other decoded values, as InstanceData

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])


class TrainCfg(BaseModel):
    """Training switches of a head's ``loss``.

    - ``compute_acc``: also report an accuracy;
    - ``max_train_instances``: heads that train on sampled people (CID) take at most this many
      a batch, a random subset; -1: all (MMPose's key).
    """

    model_config = ConfigDict(extra="forbid")
    compute_acc: bool = True
    max_train_instances: int = -1


class TestCfg(BaseModel):
    """Test-time switches of an estimator, as MMPose's ``test_cfg`` keys.

    - ``flip_test``: average with the horizontally flipped input;
    - ``flip_mode``: how heatmap heads flip back (``heatmap``, ``udp_combined``, ``offset``);
    - ``shift_heatmap``: shift flipped heatmaps one pixel right (MSRA heatmaps);
    - ``output_heatmaps``: keep raw heatmaps in the result;
    - ``output_keypoint_indices``: keep only these keypoints in the result;
    - ``score_thr`` / ``nms_thr`` / ``nms_pre`` / ``input_size``: heads that detect people (one-stage
      heads) keep instances scoring above ``score_thr``, the ``nms_pre`` best, then box NMS at IoU
      ``nms_thr``; ``input_size`` ``(w, h)`` is the size they are exported at (None: each head's default).
    """

    model_config = ConfigDict(extra="forbid")
    flip_test: bool = False
    flip_mode: Literal["heatmap", "udp_combined", "offset"] = "heatmap"
    shift_heatmap: bool = False
    shift_coords: bool = True
    output_heatmaps: bool = False
    output_keypoint_indices: tuple[int, ...] | None = None
    multiscale_test: bool = False
    restore_heatmap_size: bool = False
    align_corners: bool = False
    use_nms: bool = False
    nms_dist_thr: float = 0.05
    nms_joints_thr: float | None = None
    score_thr: float | None = None
    nms_thr: float | None = None
    nms_pre: int | None = None
    input_size: tuple[int, int] | None = None
