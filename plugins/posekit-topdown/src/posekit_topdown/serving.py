"""Batched top-down inference: every box of one or more images through the model in one forward.

Each box becomes one :class:`~posekit.structures.PoseSample` run through the test pipeline
(``GetBBoxCenterScale`` and ``TopdownAffine``: one ``cv2``-exact affine warp per box); the crops
are stacked into one ``(B, 3, H, W)`` uint8 batch, normalised by the model's data preprocessor
and decoded by the head in one batched call. A backend maps that batch to keypoints in image
pixels: :class:`TorchTopdown` (the estimator's own ``predict``) or a serving backend's (posekit-onnx's).
:class:`TopdownServing` is the top-down paradigm's serving (``"image+boxes"`` requests), registered
under ``posekit.servings`` for plugin paradigms and serving backends to reuse by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from posekit.inference.pipeline import codec_input_size, codec_of
from posekit.inference.results import PoseInstance
from posekit.protocols.serving import ImageRequest, RequestKind, Serving
from posekit.structures import PoseBatch, PoseSample
from posekit.transforms.base import Compose


class TopdownBackend(Protocol):
    """Runs a preprocessed batch: ``(B, 3, H, W)`` uint8 crops and their samples -> image-space results.

    Returns ``keypoints (B, K, D)`` in original image pixels (D = 3 for heads that also predict depth:
    z in the head's units) and ``scores (B, K)``.
    """

    def __call__(self, inputs: Tensor, samples: list[PoseSample]) -> tuple[np.ndarray, np.ndarray]: ...


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

    @classmethod
    def from_backend(
        cls, backend: TopdownBackend, pipeline: Sequence[dict[str, Any]], dataset_meta: Mapping[str, Any]
    ) -> TopdownServing:
        """Boxes' crops (``pipeline``) run by ``backend`` (a :class:`TopdownBackend`), e.g. an exported file."""
        return cls(None, backend, pipeline, dataset_meta)

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
