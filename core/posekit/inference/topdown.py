"""Batched top-down inference: every box of one or more images through the model in one forward.

Each box becomes one :class:`~posekit.structures.PoseSample` run through the test pipeline
(``GetBBoxCenterScale`` and ``TopdownAffine``: one ``cv2``-exact affine warp per box); the crops
are stacked into one ``(B, 3, H, W)`` uint8 batch, normalised by the model's data preprocessor
and decoded by the head in one batched call. A backend maps that batch to keypoints in image
pixels: :class:`TorchTopdown` (the estimator's own ``predict``) or the onnxruntime backend.
:class:`TopdownServing` is the top-down paradigm's serving (``"image+boxes"`` requests).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from posekit.inference.pipeline import codec_input_size, codec_of
from posekit.inference.results import PoseInstance
from posekit.inference.validate import check_boxes
from posekit.protocols.serving import ImageRequest, RequestKind, Serving
from posekit.structures import PoseBatch, PoseSample
from posekit.transforms.base import Compose
from posekit.transforms.geometry import bbox_xywh2xyxy

Precision = Literal["fp32", "bf16"]


class TopdownBackend(Protocol):
    """Runs a preprocessed batch: ``(B, 3, H, W)`` uint8 crops and their samples -> image-space results.

    Returns ``keypoints (B, K, D)`` in original image pixels (D = 3 for heads that also predict depth:
    z in the head's units) and ``scores (B, K)``.
    """

    def __call__(self, inputs: Tensor, samples: list[PoseSample]) -> tuple[np.ndarray, np.ndarray]: ...


def as_bboxes(
    bboxes: Any, image_shape: tuple[int, int], bbox_format: Literal["xyxy", "xywh"] = "xyxy"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate person boxes: ``(N, 4)`` or ``(N, 5)`` (with scores) -> xyxy ``(N, 4)`` float32 and scores ``(N,)``.

    ``None`` or an empty list means the whole image ``[0, 0, w, h]`` (as MMPose's ``inference_topdown``).

    Args:
        bboxes: boxes in image pixels (a list of lists or an array), or None.
        image_shape: ``(h, w)`` of the image.
        bbox_format: ``xyxy`` (x1, y1, x2, y2) or ``xywh`` (x, y, w, h).
    """
    if bbox_format not in ("xyxy", "xywh"):
        raise ValueError(f"bbox_format must be 'xyxy' or 'xywh', got {bbox_format!r}")
    if bboxes is None or len(bboxes) == 0:
        h, w = image_shape
        return np.array([[0, 0, w, h]], dtype=np.float32), np.ones(1, np.float32)
    arr = np.asarray(bboxes, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise ValueError(f"bboxes: expected shape (N, 4) or (N, 5) (with scores), got {arr.shape}")
    scores = arr[:, 4].copy() if arr.shape[1] == 5 else np.ones(len(arr), np.float32)
    boxes = np.ascontiguousarray(arr[:, :4])
    if bbox_format == "xywh":
        boxes = bbox_xywh2xyxy(boxes)
    return check_boxes(boxes, image_shape, "bboxes"), scores


class TopdownPreprocessor:
    """Boxes of an image -> one packed sample per box (crop in ``sample.inputs``, metadata for decoding).

    Args:
        pipeline: the test pipeline's transform configs (see :meth:`posekit.protocols.Serving.test_pipeline`).
        dataset_meta: the keypoint definition (``flip_indices`` is set on every sample for flip test).
    """

    def __init__(self, pipeline: Sequence[dict[str, Any]], dataset_meta: dict[str, Any]) -> None:
        self.pipeline = Compose(pipeline)
        self.flip_indices = [int(i) for i in dataset_meta.get("flip_indices", ())]

    def __call__(
        self, img: np.ndarray, bboxes: np.ndarray, bbox_scores: np.ndarray, img_path: str = "", img_id: int = -1
    ) -> list[PoseSample]:
        """Crop ``bboxes (N, 4)`` xyxy of ``img (H, W, 3)`` uint8 BGR; returns N packed samples."""
        samples = []
        for i in range(len(bboxes)):
            sample = PoseSample(
                img=img,
                img_path=img_path,
                img_id=img_id,
                id=i,
                bbox=bboxes[i : i + 1],
                bbox_score=bbox_scores[i : i + 1],
                flip_indices=self.flip_indices,
            )
            samples.append(self.pipeline(sample))
        return samples


def stack_inputs(samples: Sequence[PoseSample]) -> Tensor:
    """The packed crops of ``samples`` as one ``(B, 3, H, W)`` tensor (their dtype, uint8 normally)."""
    return torch.stack([s.inputs for s in samples])


class _FloatOutputs:
    """Forward hook casting a module's tensor outputs back to float32 (the end of the bf16 region)."""

    def __call__(self, module: nn.Module, args: Any, output: Any) -> Any:
        if isinstance(output, Tensor):
            return output.float()
        return type(output)(o.float() if isinstance(o, Tensor) else o for o in output)


def _to_bf16(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(a.to(torch.bfloat16) if isinstance(a, Tensor) and a.is_floating_point() else a for a in args)


def enable_bf16(model: nn.Module) -> None:
    """Run the backbone (and neck) in bfloat16, the head and decoding in float32; in place.

    The features are cast back to float32 before the head, so the head's decoding sees float32.
    """
    for name in ("backbone", "neck"):
        module = getattr(model, name, None)
        if module is not None:
            module.to(torch.bfloat16)
            module.register_forward_pre_hook(_to_bf16)
            module.register_forward_hook(_FloatOutputs())


class TorchTopdown:
    """The estimator's own preprocessing and ``predict`` (decoding by the head's codec).

    Args:
        model: a top-down estimator in eval mode.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    @torch.inference_mode()
    def __call__(self, inputs: Tensor, samples: list[PoseSample]) -> tuple[np.ndarray, np.ndarray]:
        batch = self.model.data_preprocessor(PoseBatch(inputs=inputs, targets={}, samples=samples))
        results = self.model(batch.inputs, batch, mode="predict")
        keypoints = np.concatenate([r.keypoints for r in results]).astype(np.float32, copy=False)
        scores = np.concatenate([r.keypoint_scores for r in results]).astype(np.float32, copy=False)
        return keypoints, scores


def input_to_image_batch(keypoints: np.ndarray, samples: Sequence[PoseSample]) -> np.ndarray:
    """Map ``(B, K, 2)`` keypoints from model-input pixels to image pixels (one sample per row)."""
    size = np.array([s.input_size for s in samples], np.float32)[:, None]
    scale = np.stack([np.asarray(s.input_scale, np.float32).reshape(2) for s in samples])[:, None]
    center = np.stack([np.asarray(s.input_center, np.float32).reshape(2) for s in samples])[:, None]
    return keypoints / size * scale + center - 0.5 * scale


class TopdownServing(Serving):
    """Serves a top-down estimator: every box of an image is a crop; crops of several images share forwards.

    Args:
        model: the estimator in eval mode, or None with a ``backend`` that carries its own model.
        backend: runs the crops (default: :class:`TorchTopdown` of ``model``).
        pipeline: the test pipeline's transform configs (default: :meth:`test_pipeline`).
        dataset_meta: the keypoint definition (default: the model's).
        batch_size: crops per forward (default 16).
    """

    request: ClassVar[RequestKind] = "image+boxes"

    def __init__(
        self,
        model: nn.Module | None,
        backend: TopdownBackend | None = None,
        pipeline: Sequence[dict[str, Any]] | None = None,
        dataset_meta: Mapping[str, Any] | None = None,
        batch_size: int = 16,
    ) -> None:
        super().__init__(model, dataset_meta, batch_size)
        if backend is None and model is None:
            raise ValueError("TopdownServing needs a model or a backend")
        self.backend: TopdownBackend = backend if backend is not None else TorchTopdown(model)
        steps = pipeline if pipeline is not None else self.test_pipeline()
        self.preprocess = TopdownPreprocessor(steps, self.dataset_meta)

    def default_pipeline(self) -> list[dict[str, Any]]:
        """MMPose's top-down test pipeline with the codec's ``input_size`` and ``use_udp``."""
        codec = codec_of(self.model)
        return [
            {"type": "LoadImage"},
            {"type": "GetBBoxCenterScale", "padding": 1.25},
            {"type": "TopdownAffine", "input_size": codec_input_size(codec), "use_udp": bool(codec.use_udp)},
            {"type": "PackPoseInputs"},
        ]

    def predict(self, requests: Iterable[ImageRequest]) -> Iterator[list[PoseInstance]]:
        """Per request, one person per box (``request.boxes (N, 5)``); crops pooled into forwards of ``batch_size``."""
        pending: list[tuple[np.ndarray, list[PoseSample]]] = []
        count = 0
        for r in requests:
            boxes = r.boxes if r.boxes is not None else np.zeros((0, 5), np.float32)
            pending.append((boxes, self.preprocess(r.img, boxes[:, :4], boxes[:, 4], r.path, r.index)))
            count += len(boxes)
            if count >= self.batch_size:
                yield from self._flush(pending)
                pending, count = [], 0
        yield from self._flush(pending)

    def _flush(self, pending: list[tuple[np.ndarray, list[PoseSample]]]) -> Iterator[list[PoseInstance]]:
        samples = [s for _, group in pending for s in group]
        b = self.batch_size
        parts = [self.backend(stack_inputs(samples[i : i + b]), samples[i : i + b]) for i in range(0, len(samples), b)]
        keypoints = np.concatenate([k for k, _ in parts]) if parts else np.zeros((0, 0, 2), np.float32)
        scores = np.concatenate([s for _, s in parts]) if parts else np.zeros((0, 0), np.float32)
        offset = 0
        for boxes, group in pending:
            yield [
                PoseInstance(
                    keypoints=keypoints[offset + i],
                    keypoint_scores=scores[offset + i],
                    bbox=boxes[i, :4],
                    bbox_score=float(boxes[i, 4]),
                )
                for i in range(len(group))
            ]
            offset += len(group)
