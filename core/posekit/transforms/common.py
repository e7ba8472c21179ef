"""Transforms shared by top-down and bottom-up pipelines (MMPose's ``common_transforms``).

Dimensions: N instances, K keypoints, D coordinate dims. Boxes, centers, scales and
keypoints are in image pixels here; ``TopdownAffine`` / ``BottomupRandomAffine`` move
them to the model input.
"""

from __future__ import annotations

import warnings
from typing import Literal

import cv2
import numpy as np

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.geometry import bbox_xyxy2cs, flip_bbox, flip_keypoints
from posekit.transforms.rng import get_rng, truncnorm
from posekit.types import CodecConfig

FlipDirection = Literal["horizontal", "vertical", "diagonal"]
_CV2_FLIP = {"horizontal": 1, "vertical": 0, "diagonal": -1}


class GetBBoxCenterScale(BaseTransform):
    """Boxes ``bbox (N, 4)`` xyxy -> ``bbox_center (N, 2)`` and ``bbox_scale (N, 2)`` (w, h) times ``padding``.

    As in MMPose, a sample that already has centers and scales keeps them and only
    has its scales multiplied by ``padding``.

    Args:
        padding: factor applied to the box width and height (default 1.25).
    """

    def __init__(self, padding: float = 1.25) -> None:
        self.padding = padding

    def __call__(self, sample: PoseSample) -> PoseSample:
        if len(sample.bbox_center) and len(sample.bbox_scale):
            sample.bbox_scale = sample.bbox_scale * self.padding
        elif sample.bbox.ndim == 2 and sample.bbox.shape[1] == 4:
            sample.bbox_center, sample.bbox_scale = bbox_xyxy2cs(sample.bbox, padding=self.padding)
        else:
            raise DataError(
                f"GetBBoxCenterScale: bbox must be (N, 4) xyxy, got shape {sample.bbox.shape} "
                f"(image id {sample.img_id}, annotation id {sample.id})"
            )
        return sample


class RandomFlip(BaseTransform):
    """Randomly flip the image (and ``img_mask``), boxes, centers, keypoints and their visibility.

    Symmetric keypoints swap by ``sample.flip_indices`` (horizontal and vertical flips).
    Image-space coordinates become ``w - 1 - x`` (MMPose's convention); after a
    bottom-up affine the flip is about the model input (``input_size``). Sets ``flip``
    and ``flip_direction``. Flipping twice in the same direction is the identity.

    Args:
        prob: flip probability, or one probability per direction (their sum <= 1); default 0.5.
        direction: ``horizontal`` (default), ``vertical``, ``diagonal``, or a tuple of them.
    """

    train_only = True

    def __init__(
        self,
        prob: float | tuple[float, ...] = 0.5,
        direction: FlipDirection | tuple[FlipDirection, ...] = "horizontal",
    ) -> None:
        directions = (direction,) if isinstance(direction, str) else tuple(direction)
        if isinstance(prob, (int, float)):
            if not 0 <= prob <= 1:
                raise ValueError(f"RandomFlip prob must be in [0, 1], got {prob}")
            probs = (float(prob) / len(directions),) * len(directions)
        else:
            if len(prob) != len(directions):
                raise ValueError(f"RandomFlip got {len(prob)} probabilities for {len(directions)} directions")
            probs = tuple(float(p) for p in prob)
            if not 0 <= sum(probs) <= 1 or min(probs) < 0:
                raise ValueError(f"RandomFlip probabilities must be >= 0 and sum to <= 1, got {prob}")
        self.prob = prob
        self.direction = direction
        self._choices: tuple[str | None, ...] = (*directions, None)
        self._cum = np.cumsum((*probs, 1.0 - sum(probs)))

    def __call__(self, sample: PoseSample) -> PoseSample:
        u = get_rng(sample).random()
        flip_dir = self._choices[min(int(np.searchsorted(self._cum, u, side="right")), len(self._choices) - 1)]
        if flip_dir is None:
            sample.flip, sample.flip_direction = False, None
            return sample
        return apply_flip(sample, flip_dir)


def apply_flip(sample: PoseSample, direction: str) -> PoseSample:
    """Flip ``sample`` (image, boxes, centers, keypoints) in ``direction``; RandomFlip's deterministic part."""
    if any(sample.input_size):
        w, h = sample.input_size
    else:
        h, w = sample.img_shape
    if not w or not h:
        raise DataError(f"RandomFlip needs sample.img_shape (image id {sample.img_id}); run LoadImage first")
    if sample.img is not None:
        sample.img = cv2.flip(sample.img, _CV2_FLIP[direction])
    if sample.img_mask is not None:  # any dtype (cv2 refuses bool masks), as mmcv's imflip
        axes = {"horizontal": (1,), "vertical": (0,), "diagonal": (0, 1)}[direction]
        sample.img_mask = np.ascontiguousarray(np.flip(sample.img_mask, axis=axes))
    if len(sample.bbox):
        sample.bbox = flip_bbox(sample.bbox, (w, h), "xyxy", direction)
    if len(sample.bbox_center):
        sample.bbox_center = flip_bbox(sample.bbox_center, (w, h), "center", direction)
    if sample.keypoints.size:
        if direction != "diagonal" and not sample.flip_indices:
            raise DataError(
                f"RandomFlip needs sample.flip_indices (set by the dataset from its keypoint definition); "
                f"image id {sample.img_id}"
            )
        visible = sample.keypoints_visible if sample.keypoints_visible.size else None
        sample.keypoints, vis = flip_keypoints(sample.keypoints, visible, (w, h), sample.flip_indices, direction)
        if vis is not None:
            sample.keypoints_visible = vis
    sample.flip = not sample.flip
    sample.flip_direction = direction if sample.flip else None
    return sample


class RandomHalfBody(BaseTransform):
    """With probability ``prob``, shrink an instance's box to its upper or lower body.

    Applies to instances with at least ``min_total_keypoints`` visible keypoints; the
    upper body is preferred with probability ``upper_prioritized_prob`` and a half needs
    ``min_upper_keypoints`` / ``min_lower_keypoints`` visible keypoints to be chosen.
    The new center is the mean of the half's visible keypoints and the scale their
    extent times ``padding``. Reads ``sample.upper_body_ids`` / ``lower_body_ids``.

    Args:
        min_total_keypoints: visible keypoints an instance needs (default 9).
        min_upper_keypoints: visible upper-body keypoints to use the upper half (default 2).
        min_lower_keypoints: visible lower-body keypoints to use the lower half (default 3).
        padding: factor on the half-body extent (default 1.5).
        prob: probability to apply to an eligible instance (default 0.3).
        upper_prioritized_prob: probability to prefer the upper half (default 0.7).
    """

    train_only = True

    def __init__(
        self,
        min_total_keypoints: int = 9,
        min_upper_keypoints: int = 2,
        min_lower_keypoints: int = 3,
        padding: float = 1.5,
        prob: float = 0.3,
        upper_prioritized_prob: float = 0.7,
    ) -> None:
        self.min_total_keypoints = min_total_keypoints
        self.min_upper_keypoints = min_upper_keypoints
        self.min_lower_keypoints = min_lower_keypoints
        self.padding = padding
        self.prob = prob
        self.upper_prioritized_prob = upper_prioritized_prob

    def __call__(self, sample: PoseSample) -> PoseSample:
        if sample.keypoints_visible.ndim != 2 or sample.keypoints_visible.shape[0] == 0:
            return sample
        n, k = sample.keypoints_visible.shape
        if not sample.upper_body_ids or not sample.lower_body_ids:
            raise DataError(
                "RandomHalfBody needs sample.upper_body_ids and sample.lower_body_ids (set by the dataset "
                f"from its keypoint definition); image id {sample.img_id}"
            )
        u = get_rng(sample).random((n, 2))
        vis = sample.keypoints_visible > 0
        upper = np.zeros(k, dtype=bool)
        upper[sample.upper_body_ids] = True
        lower = np.zeros(k, dtype=bool)
        lower[sample.lower_body_ids] = True
        up_vis, low_vis = vis & upper, vis & lower
        n_up, n_low = up_vis.sum(1), low_vis.sum(1)
        up_ok, low_ok = n_up >= self.min_upper_keypoints, n_low >= self.min_lower_keypoints
        apply = (sample.keypoints_visible.sum(1) >= self.min_total_keypoints) & (u[:, 0] <= self.prob)
        apply &= up_ok | low_ok
        if not apply.any():
            return sample
        use_upper = up_ok & (~low_ok | (u[:, 1] < self.upper_prioritized_prob))
        sel = np.where(use_upper[:, None], up_vis, low_vis)[apply]  # (M, K)
        xy = sample.keypoints[apply][..., :2]  # (M, K, 2)
        m = sel[..., None]
        center = (xy * m).sum(1) / sel.sum(1, keepdims=True)
        lo = np.where(m, xy, np.inf).min(1)
        hi = np.where(m, xy, -np.inf).max(1)
        bbox_center = sample.bbox_center.copy()
        bbox_scale = sample.bbox_scale.copy()
        bbox_center[apply] = center
        bbox_scale[apply] = (hi - lo) * self.padding
        sample.bbox_center, sample.bbox_scale = bbox_center, bbox_scale
        return sample


class RandomBBoxTransform(BaseTransform):
    """Randomly shift, resize and rotate the boxes (centers, scales, ``bbox_rotation``).

    Each factor is drawn from a standard normal truncated to ``[-1, 1]``.

    Args:
        shift_factor: shift up to ``shift_factor * scale`` pixels in x and y (default 0.16).
        shift_prob: probability to shift (default 0.3).
        scale_factor: resize range ``(min, max)`` (default (0.5, 1.5)).
        scale_prob: probability to resize (default 1.0).
        rotate_factor: rotation up to this many degrees (default 80.0).
        rotate_prob: probability to rotate (default 0.6).
    """

    train_only = True

    def __init__(
        self,
        shift_factor: float = 0.16,
        shift_prob: float = 0.3,
        scale_factor: tuple[float, float] = (0.5, 1.5),
        scale_prob: float = 1.0,
        rotate_factor: float = 80.0,
        rotate_prob: float = 0.6,
    ) -> None:
        self.shift_factor = shift_factor
        self.shift_prob = shift_prob
        self.scale_factor = scale_factor
        self.scale_prob = scale_prob
        self.rotate_factor = rotate_factor
        self.rotate_prob = rotate_prob

    def __call__(self, sample: PoseSample) -> PoseSample:
        n = sample.bbox_scale.shape[0]
        rng = get_rng(sample)
        t = truncnorm(rng, (n, 4))
        u = rng.random((n, 3))
        offset = np.where(u[:, :1] < self.shift_prob, t[:, :2] * np.float32(self.shift_factor), np.float32(0))
        lo, hi = self.scale_factor
        scale = t[:, 2:3] * np.float32((hi - lo) * 0.5) + np.float32((hi + lo) * 0.5)
        scale = np.where(u[:, 1:2] < self.scale_prob, scale, np.float32(1))
        rotate = np.where(u[:, 2] < self.rotate_prob, t[:, 3] * np.float32(self.rotate_factor), np.float32(0))
        sample.bbox_center = sample.bbox_center + offset * sample.bbox_scale
        sample.bbox_scale = sample.bbox_scale * scale
        sample.bbox_rotation = rotate
        return sample


class GenerateTarget(BaseTransform):
    """Encode the keypoints with a codec into training targets (``sample.targets``).

    Encodes ``transformed_keypoints`` (input space, after ``TopdownAffine``) or else
    ``keypoints``, with ``keypoints_visible`` and the codec's ``auxiliary_encode_keys``
    read from the sample (``lifting_target``, ``camera_param``, ... or ``sample.extra``).
    A codec's ``target_root`` is also stored in ``sample.target_root``.

    Args:
        encoder: a codec config (``{"type": "MSRAHeatmap", ...}``) or a tuple of them.
        target_type: deprecated in MMPose and ignored (a warning says so).
        multilevel: with several encoders of one type, each target key holds a list (one per encoder);
            otherwise several encoders' targets are merged and their ``keypoint_weights`` listed.
        use_dataset_keypoint_weights: multiply ``keypoint_weights`` by ``sample.dataset_keypoint_weights``.
    """

    train_only = True

    example_config = {
        "encoder": {"type": "MSRAHeatmap", "input_size": (48, 64), "heatmap_size": (12, 16), "sigma": 2.0}
    }

    def __init__(
        self,
        encoder: CodecConfig | tuple[CodecConfig, ...],
        target_type: str | None = None,
        multilevel: bool = False,
        use_dataset_keypoint_weights: bool = False,
    ) -> None:
        from posekit.registry import build

        if target_type is not None:
            warnings.warn(
                "GenerateTarget: target_type is deprecated and ignored; the encoder decides the targets",
                DeprecationWarning,
                stacklevel=2,
            )
        self.encoder = encoder
        self.target_type = target_type
        self.multilevel = multilevel
        self.use_dataset_keypoint_weights = use_dataset_keypoint_weights
        if isinstance(encoder, (list, tuple)):
            self._codecs = [build("codec", c) for c in encoder]
        else:
            if multilevel:
                raise ValueError("GenerateTarget: multilevel=True needs a tuple of encoders")
            self._codecs = [build("codec", encoder)]
        self._single = not isinstance(encoder, (list, tuple))

    def _encode(self, codec: object, sample: PoseSample, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        aux = {}
        for key in getattr(codec, "auxiliary_encode_keys", ()):
            value = getattr(sample, key, None)
            if value is None:
                value = sample.extra.get(key)
            if value is None:
                raise DataError(
                    f"GenerateTarget: codec {type(codec).__name__} needs {key!r}, which the sample lacks "
                    f"(image id {sample.img_id}, annotation id {sample.id})"
                )
            aux[key] = value
        return codec.encode(keypoints=keypoints, keypoints_visible=sample.keypoints_visible, **aux)  # type: ignore[attr-defined]

    def __call__(self, sample: PoseSample) -> PoseSample:
        keypoints = sample.transformed_keypoints if sample.transformed_keypoints is not None else sample.keypoints
        encoded_list = [self._encode(c, sample, keypoints) for c in self._codecs]
        if self._single:
            encoded: dict = encoded_list[0]
        elif self.multilevel:
            keys = encoded_list[0].keys()
            if any(e.keys() != keys for e in encoded_list):
                raise ValueError("GenerateTarget: with multilevel=True every encoder must return the same keys")
            encoded = {k: [e[k] for e in encoded_list] for k in keys}
        else:
            encoded = {}
            weights = []
            for e in encoded_list:
                for key, value in e.items():
                    if key == "keypoint_weights":
                        weights.append(value)
                    elif key in encoded:
                        raise ValueError(f"GenerateTarget: encoders overlap on {key!r} (allowed only with multilevel)")
                    else:
                        encoded[key] = value
            if weights:
                encoded["keypoint_weights"] = weights
        if self.use_dataset_keypoint_weights and "keypoint_weights" in encoded:
            dw = sample.dataset_keypoint_weights
            if dw is None:
                raise DataError(
                    "GenerateTarget(use_dataset_keypoint_weights=True) needs sample.dataset_keypoint_weights "
                    f"(set by the dataset from its keypoint definition); image id {sample.img_id}"
                )
            kw = encoded["keypoint_weights"]
            encoded["keypoint_weights"] = [w * dw for w in kw] if isinstance(kw, list) else kw * dw
        sample.targets.update(encoded)
        if "target_root" in encoded:
            sample.target_root = encoded["target_root"]
        return sample
