"""Multi-image transforms of YOLOX-style training: ``Mosaic`` and ``YOLOXMixUp`` (MMPose's ``mix_img_transforms``).

Dimensions: N instances, K keypoints. Both draw other samples of the dataset they run in
(``needs_dataset``: the dataset calls ``transform(sample, dataset=...)``), run ``pre_transform``
on them (``LoadImage``), and paste them with the sample into one image; boxes ``(N, 4)`` xyxy,
keypoints ``(N, K, 2)`` and areas follow the pixels, in the new image's pixels. Their random
draws come from the sample's generator; ``combine`` is the deterministic rest, given the draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import cv2
import numpy as np

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.geometry import flip_bbox, flip_keypoints
from posekit.transforms.rng import get_rng
from posekit.types import TransformConfig
from posekit_yolox_train.instances import clip_to_image, concat_instances, instances_of


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``img`` resized to ``size`` (w, h), bilinear (mmcv's ``imresize``)."""
    return cv2.resize(img, size, interpolation=cv2.INTER_LINEAR)


def _scaled(sample: PoseSample, ratio: float, shift: tuple[float, float]) -> PoseSample:
    """``sample``'s instances scaled by ``ratio`` then shifted by ``shift`` (x, y) (the arrays are copies)."""
    if len(sample.bbox):
        sample.bbox = sample.bbox * ratio + np.array([shift[0], shift[1]] * 2, dtype=sample.bbox.dtype)
    if sample.keypoints.size:
        kpts = sample.keypoints.copy()
        kpts[..., :2] = kpts[..., :2] * ratio + np.array(shift, dtype=kpts.dtype)
        sample.keypoints = kpts
    if len(sample.area):
        sample.area = sample.area * ratio**2
    return sample


class _MixTransform(BaseTransform):
    """Draw ``num_aux_image`` other samples of the dataset and mix them into this one with probability ``prob``."""

    train_only = True
    needs_dataset = True
    num_aux_image: ClassVar[int] = 1

    def __init__(self, pre_transform: Sequence[TransformConfig], prob: float) -> None:
        from posekit.registry import build

        self.pre_transform = tuple(pre_transform)
        self.prob = prob
        self._pre = [build("transform", t, where=f"pre_transform[{i}]") for i, t in enumerate(pre_transform)]

    def _aux_samples(self, dataset: Any, rng: np.random.Generator) -> list[PoseSample]:
        out = []
        for index in rng.integers(len(dataset), size=self.num_aux_image):
            sample: PoseSample | None = dataset.get_data_info(int(index))
            sample.rng = np.random.default_rng(rng.integers(2**63 - 1))
            for t in self._pre:
                sample = t(sample, dataset=dataset) if getattr(t, "needs_dataset", False) else t(sample)
                if sample is None:
                    raise DataError(f"{type(self).__name__}: pre_transform {t!r} dropped sample {int(index)}")
            if sample.img is None:
                raise DataError(
                    f"{type(self).__name__}: sample {int(index)} has no image; add LoadImage to pre_transform"
                )
            out.append(sample)
        return out

    def __call__(self, sample: PoseSample, dataset: Any = None) -> PoseSample:
        if dataset is None:
            raise DataError(f"{type(self).__name__} mixes in other samples: it runs in a dataset's pipeline")
        if sample.img is None:
            raise DataError(f"{type(self).__name__} needs an image (image id {sample.img_id}); run LoadImage first")
        rng = get_rng(sample)
        if rng.random() >= self.prob:
            return sample
        return self.mix(sample, self._aux_samples(dataset, rng), rng)

    def mix(self, sample: PoseSample, others: list[PoseSample], rng: np.random.Generator) -> PoseSample:
        raise NotImplementedError


class Mosaic(_MixTransform):
    """The sample and three others in the four quarters of a ``2 * img_scale`` image around a random center.

    Each image is resized to fit ``img_scale`` (aspect kept) and cropped where it passes the
    center or the border; boxes are clipped to the mosaic and keypoints outside it hidden.
    Sets ``img``, ``img_shape``; clears ``invalid_segs`` (they belong to the first image only).

    Args:
        img_scale: (w, h) of one quarter (default (640, 640)).
        center_range: the center's range as fractions of ``img_scale`` (default (0.5, 1.5)).
        pad_val: fill value of the uncovered pixels (default 114.0).
        pre_transform: transforms run on each drawn sample (``LoadImage``) (default none).
        prob: probability to apply (default 1.0).
    """

    num_aux_image = 3
    example_config: ClassVar[dict[str, Any]] = {"img_scale": (32, 32), "pre_transform": [{"type": "LoadImage"}]}

    def __init__(
        self,
        img_scale: tuple[int, int] = (640, 640),
        center_range: tuple[float, float] = (0.5, 1.5),
        pad_val: float = 114.0,
        pre_transform: Sequence[TransformConfig] = (),
        prob: float = 1.0,
    ) -> None:
        super().__init__(pre_transform, prob)
        self.img_scale = (int(img_scale[0]), int(img_scale[1]))
        self.center_range = center_range
        self.pad_val = pad_val

    def mix(self, sample: PoseSample, others: list[PoseSample], rng: np.random.Generator) -> PoseSample:
        w, h = self.img_scale
        center = (int(rng.uniform(*self.center_range) * w), int(rng.uniform(*self.center_range) * h))
        return self.combine(sample, others, center)

    def _paste_crop(self, loc: int, center: tuple[int, int], size: tuple[int, int]) -> tuple[tuple[int, ...], ...]:
        """(paste box in the mosaic, crop box in the image), both x1, y1, x2, y2, of quarter ``loc``."""
        cx, cy = center
        w, h = size
        full_w, full_h = 2 * self.img_scale[0], 2 * self.img_scale[1]
        if loc == 0:  # top left
            paste = (max(cx - w, 0), max(cy - h, 0), cx, cy)
            return paste, (w - (paste[2] - paste[0]), h - (paste[3] - paste[1]), w, h)
        if loc == 1:  # top right
            paste = (cx, max(cy - h, 0), min(cx + w, full_w), cy)
            return paste, (0, h - (paste[3] - paste[1]), min(w, paste[2] - paste[0]), h)
        if loc == 2:  # bottom left
            paste = (max(cx - w, 0), cy, cx, min(full_h, cy + h))
            return paste, (w - (paste[2] - paste[0]), 0, w, min(paste[3] - paste[1], h))
        paste = (cx, cy, min(cx + w, full_w), min(full_h, cy + h))
        return paste, (0, 0, min(w, paste[2] - paste[0]), min(paste[3] - paste[1], h))

    def combine(self, sample: PoseSample, others: list[PoseSample], center: tuple[int, int]) -> PoseSample:
        """The mosaic of ``sample`` (top left) and ``others`` (top right, bottom left, bottom right) at ``center``."""
        w, h = self.img_scale
        assert sample.img is not None
        mosaic = np.full((2 * h, 2 * w, 3), self.pad_val, dtype=sample.img.dtype)
        parts = []
        for loc, part in enumerate((sample, *others)):
            assert part.img is not None
            img_h, img_w = part.img.shape[:2]
            ratio = min(h / img_h, w / img_w)
            img = _resize(part.img, (int(img_w * ratio), int(img_h * ratio)))
            (x1, y1, x2, y2), (cx1, cy1, cx2, cy2) = self._paste_crop(loc, center, (img.shape[1], img.shape[0]))
            mosaic[y1:y2, x1:x2] = img[cy1:cy2, cx1:cx2]
            parts.append(_scaled(part if loc else instances_of(part), ratio, (x1 - cx1, y1 - cy1)))
        concat_instances(sample, parts)
        clip_to_image(sample, (2 * w, 2 * h))
        sample.img = mosaic
        sample.img_shape = (2 * h, 2 * w)
        sample.img_mask = None
        sample.invalid_segs = []
        return sample


class YOLOXMixUp(_MixTransform):
    """Blend the sample half and half with another one, rescaled, maybe flipped and randomly shifted.

    The other image is fitted into ``img_scale``, scaled by a factor from ``ratio_range``,
    flipped horizontally with probability ``1 - flip_ratio`` (as MMPose), padded to at least
    the sample's size and cropped at a random offset to it; its instances follow, and every
    box is clipped to the image and keypoints outside it hidden. A drawn sample with no
    instance leaves the sample unchanged.

    Args:
        img_scale: (w, h) the other image is fitted into (default (640, 640)).
        ratio_range: range of its extra scale factor (default (0.5, 1.5)).
        flip_ratio: it is flipped when a uniform draw exceeds this (default 0.5).
        pad_val: fill value (default 114.0).
        bbox_clip_border: MMPose's switch; boxes are always clipped, as MMPose does (default True).
        pre_transform: transforms run on the drawn sample (``LoadImage``) (default none).
        prob: probability to apply (default 1.0).
    """

    num_aux_image = 1
    example_config: ClassVar[dict[str, Any]] = {"img_scale": (32, 32), "pre_transform": [{"type": "LoadImage"}]}

    def __init__(
        self,
        img_scale: tuple[int, int] = (640, 640),
        ratio_range: tuple[float, float] = (0.5, 1.5),
        flip_ratio: float = 0.5,
        pad_val: float = 114.0,
        bbox_clip_border: bool = True,
        pre_transform: Sequence[TransformConfig] = (),
        prob: float = 1.0,
    ) -> None:
        super().__init__(pre_transform, prob)
        self.img_scale = (int(img_scale[0]), int(img_scale[1]))
        self.ratio_range = ratio_range
        self.flip_ratio = flip_ratio
        self.pad_val = pad_val
        self.bbox_clip_border = bbox_clip_border

    def mix(self, sample: PoseSample, others: list[PoseSample], rng: np.random.Generator) -> PoseSample:
        aux = others[0]
        if aux.num_instances == 0:
            return sample
        assert sample.img is not None
        jit = float(rng.uniform(*self.ratio_range))
        flip = bool(rng.uniform(0, 1) > self.flip_ratio)
        aux_w, aux_h = int(self.img_scale[0] * jit), int(self.img_scale[1] * jit)  # the other image's canvas
        h, w = sample.img.shape[:2]
        dy = int(rng.integers(0, max(0, max(aux_h, h) - h) + 1))
        dx = int(rng.integers(0, max(0, max(aux_w, w) - w) + 1))
        return self.combine(sample, aux, jit, flip, (dx, dy))

    def combine(
        self, sample: PoseSample, aux: PoseSample, jit: float, flip: bool, offset: tuple[int, int]
    ) -> PoseSample:
        """``sample`` blended with ``aux`` (fitted, scaled by ``jit``, ``flip``-ped, cropped at ``offset`` (x, y))."""
        assert sample.img is not None and aux.img is not None
        sw, sh = self.img_scale
        canvas = np.ones((sh, sw, 3), dtype=aux.img.dtype) * self.pad_val  # float64, as MMPose's
        ratio = min(sh / aux.img.shape[0], sw / aux.img.shape[1])
        fitted = _resize(aux.img, (int(aux.img.shape[1] * ratio), int(aux.img.shape[0] * ratio)))
        canvas[: fitted.shape[0], : fitted.shape[1]] = fitted
        ratio *= jit
        canvas = _resize(canvas, (int(canvas.shape[1] * jit), int(canvas.shape[0] * jit)))
        if flip:
            canvas = canvas[:, ::-1, :]
        aux_h, aux_w = canvas.shape[:2]
        h, w = sample.img.shape[:2]
        padded = (np.ones((max(aux_h, h), max(aux_w, w), 3)) * self.pad_val).astype(np.uint8)
        padded[:aux_h, :aux_w] = canvas
        dx, dy = offset
        blended = 0.5 * sample.img + 0.5 * padded[dy : dy + h, dx : dx + w]

        part = _scaled(instances_of(aux), ratio, (0.0, 0.0))
        clip_to_image(part, (aux_w, aux_h))
        if flip:
            if len(part.bbox):
                part.bbox = flip_bbox(part.bbox, (aux_w, aux_h), "xyxy", "horizontal")
            if part.keypoints.size:
                kpts, vis = flip_keypoints(part.keypoints, part.keypoints_visible, (aux_w, aux_h), aux.flip_indices)
                part.keypoints, part.keypoints_visible = kpts, vis  # type: ignore[assignment]
        part = _scaled(part, 1.0, (-dx, -dy))
        concat_instances(sample, [instances_of(sample), part])
        clip_to_image(sample, (w, h))
        sample.img = blended.astype(np.uint8)
        sample.img_shape = (h, w)
        return sample
