"""``BatchSyncRandomResize``: multi-scale training, one random input size per batch, the same on every rank.

A batch augment of the data preprocessor (``PoseDataPreprocessor(batch_augments=[...])``): it
has a data preprocessor's contract, ``forward(batch, training) -> batch``, and acts in
training only. As MMPose's: the first batch keeps its size; every ``interval`` batches a new
size is drawn (a multiple of ``size_divisor`` within ``random_size_range``, width from the
batch's aspect ratio) by rank 0 and broadcast; each later batch is resized to it (bilinear)
and its geometry scaled alike.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.structures import PoseBatch

#: target keys holding (..., 4) xyxy boxes, (..., 2+) keypoints and areas, in input pixels
BOX_KEYS = ("bbox", "bboxes")
KEYPOINT_KEYS = ("keypoints",)
AREA_KEYS = ("area", "areas")


def _scale(value: Any, fn: Any) -> Any:
    return [fn(v) for v in value] if isinstance(value, list) else fn(value)


class BatchSyncRandomResize(nn.Module):
    """Resize training batches to a size drawn every ``interval`` batches.

    Scaled with the pixels: targets ``bbox``/``bboxes`` (x by the width ratio, y by the height
    ratio), ``keypoints`` (x, y), ``area``/``areas`` (by both); ``heatmap_mask`` resized
    (bilinear); and each sample's ``bbox``, ``keypoints``, ``area``, ``img_shape`` and ``input_size``.

    Args:
        random_size_range: (min, max) of the drawn height, pixels (rounded to ``size_divisor`` multiples).
        interval: batches between draws (default 10).
        size_divisor: the drawn sizes are multiples of this (default 32).
    """

    example_config: ClassVar[dict[str, Any]] = {"random_size_range": (32, 64), "interval": 1}

    def __init__(self, random_size_range: tuple[int, int], interval: int = 10, size_divisor: int = 32) -> None:
        super().__init__()
        if interval < 1 or size_divisor < 1:
            raise ValueError(f"BatchSyncRandomResize: interval ({interval}) and size_divisor must be >= 1")
        self.random_size_range = random_size_range
        self.interval = interval
        self.size_divisor = size_divisor
        self._steps = (round(random_size_range[0] / size_divisor), round(random_size_range[1] / size_divisor))
        if not 1 <= self._steps[0] <= self._steps[1]:
            raise ValueError(
                f"BatchSyncRandomResize: random_size_range {tuple(random_size_range)} holds no positive multiple "
                f"of size_divisor {size_divisor}"
            )
        self.input_size: tuple[int, int] | None = None  # (h, w) the next batch is resized to
        self.batches = 0
        self._generator: torch.Generator | None = None

    def _draw(self, aspect_ratio: float, device: torch.device) -> tuple[int, int]:
        """A new (h, w): drawn on rank 0 (seeded from torch's initial seed), broadcast to every rank."""
        if self._generator is None:
            self._generator = torch.Generator().manual_seed(torch.initial_seed())
        steps = int(torch.randint(self._steps[0], self._steps[1] + 1, (1,), generator=self._generator))
        size = torch.tensor([self.size_divisor * steps, self.size_divisor * int(aspect_ratio * steps)], device=device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(size, 0)
        return int(size[0]), int(size[1])

    def forward(self, batch: PoseBatch, training: bool = False) -> PoseBatch:
        """The batch resized to the current size (training only)."""
        if not training:
            return batch
        h, w = batch.inputs.shape[-2:]
        if self.input_size is None:
            self.input_size = (h, w)
        sy, sx = self.input_size[0] / h, self.input_size[1] / w
        if sx != 1 or sy != 1:
            batch = self._resized(batch, sx, sy)
        self.batches += 1
        if self.batches % self.interval == 0:
            self.input_size = self._draw(float(w / h), batch.inputs.device)
        return batch

    def _resized(self, batch: PoseBatch, sx: float, sy: float) -> PoseBatch:
        assert self.input_size is not None
        inputs = F.interpolate(batch.inputs, size=self.input_size, mode="bilinear", align_corners=False)
        box = torch.tensor([sx, sy, sx, sy])
        point = torch.tensor([sx, sy])

        def boxes(t: Tensor) -> Tensor:
            return t * box.to(t)

        def points(t: Tensor) -> Tensor:
            return torch.cat([t[..., :2] * point.to(t), t[..., 2:]], dim=-1)

        def mask(t: Tensor) -> Tensor:
            flat = t.float().reshape(-1, 1, *t.shape[-2:])
            out = F.interpolate(flat, size=self.input_size, mode="bilinear", align_corners=False)
            return out.reshape(*t.shape[:-2], *self.input_size)

        targets = dict(batch.targets)
        for key, value in targets.items():
            if key in BOX_KEYS:
                targets[key] = _scale(value, boxes)
            elif key in KEYPOINT_KEYS:
                targets[key] = _scale(value, points)
            elif key in AREA_KEYS:
                targets[key] = _scale(value, lambda t: t * (sx * sy))
            elif key == "heatmap_mask":
                targets[key] = _scale(value, mask)
        for sample in batch.samples:
            if len(sample.bbox):
                sample.bbox = sample.bbox * np.array([sx, sy, sx, sy], dtype=sample.bbox.dtype)
            if sample.keypoints.size:
                kpts = sample.keypoints.copy()
                kpts[..., :2] *= np.array([sx, sy], dtype=kpts.dtype)
                sample.keypoints = kpts
            if len(sample.area):
                sample.area = sample.area * (sx * sy)
            sample.img_shape = (int(sample.img_shape[0] * sy), int(sample.img_shape[1] * sx))
            sample.input_size = (self.input_size[1], self.input_size[0])
        return PoseBatch(inputs=inputs, targets=targets, samples=batch.samples)
