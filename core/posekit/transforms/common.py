"""Transforms every paradigm's pipeline uses (MMPose's ``common_transforms``): flips and target encoding.

Dimensions: N instances, K keypoints, D coordinate dims. Boxes, centers, scales and
keypoints are in image pixels here until a paradigm's warp moves them to the model input.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import cv2
import numpy as np

from posekit.errors import DataError, PluginLoadError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.geometry import flip_bbox, flip_keypoints
from posekit.transforms.rng import get_rng
from posekit.types import CodecConfig

FlipDirection = Literal["horizontal", "vertical", "diagonal"]
_CV2_FLIP = {"horizontal": 1, "vertical": 0, "diagonal": -1}


class RandomFlip(BaseTransform):
    """Randomly flip the image (and ``img_mask``), boxes, centers, keypoints and their visibility.

    Symmetric keypoints swap by ``sample.flip_indices`` (horizontal and vertical flips).
    Image-space coordinates become ``w - 1 - x`` (MMPose's convention); after a
    bottom-up affine the flip is about the model input (``input_size``). Sets ``flip``
    and ``flip_direction``. ``prob`` may be one per direction (their sum <= 1).
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


class _AnyCodecExample:
    """``GenerateTarget.example_config``, read at access: ``{"encoder": ...}`` from the first installed codec
    (by name) that declares its own ``example_config``, so the core names no codec; ``{}`` when none does."""

    def __get__(self, obj: object, owner: type | None = None) -> dict[str, Any]:
        from posekit.registry import get, list_components

        for name in list_components("codec")["codec"]:
            try:
                example = getattr(get("codec", name), "example_config", None)
            except PluginLoadError:
                continue
            if example is not None:
                return {"encoder": {"type": name, **example}}
        return {}


class GenerateTarget(BaseTransform):
    """Encode the keypoints with a codec into training targets (``sample.targets``).

    Encodes ``transformed_keypoints`` (input space, after ``TopdownAffine``) or else
    ``keypoints``, with ``keypoints_visible`` and the codec's ``auxiliary_encode_keys``
    read from the sample (``lifting_target``, ``camera_param``, ... or ``sample.extra``).
    A codec's ``target_root`` is also stored in ``sample.target_root``. With several encoders,
    ``multilevel`` makes each target key a list (one per encoder); otherwise their targets merge and
    their ``keypoint_weights`` are listed. ``target_type`` is deprecated in MMPose and ignored.
    """

    train_only = True

    example_config = _AnyCodecExample()

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
        self._single = not isinstance(encoder, (list, tuple))
        if self._single and multilevel:
            raise ValueError("GenerateTarget: multilevel=True needs a tuple of encoders")
        self._codecs = [build("codec", c) for c in ((encoder,) if self._single else encoder)]

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
