"""``ImageServing`` (``posekit.servings``): whole images (``"image"`` requests) through the test pipeline and a
backend (the estimator's ``predict``, or e.g. an exported graph), every person out in original image pixels."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

from posekit.inference.results import PoseInstance, instances_from_results
from posekit.protocols.serving import ImageRequest, RequestKind, Serving
from posekit.structures import PoseBatch, PoseResult, PoseSample
from posekit.transforms.base import Compose


class ImageBackend(Protocol):
    """Runs packed whole images: ``(B, 3, H, W)`` uint8 inputs and their samples -> one result per image,
    people in original image pixels (as an estimator's ``predict``)."""

    def __call__(self, inputs: Tensor, samples: list[PoseSample]) -> list[PoseResult]: ...


class TorchImage:
    """The estimator's own ``predict`` as an :class:`ImageBackend` (its data preprocessor first)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __call__(self, inputs: Tensor, samples: list[PoseSample]) -> list[PoseResult]:
        batch = self.model.data_preprocessor(PoseBatch(inputs=inputs, targets={}, samples=samples))
        return self.model(batch.inputs, batch, mode="predict")


class ImageServing(Serving):
    """Serves whole images, one forward per image.

    Args:
        model: the estimator in eval mode; None with a ``backend`` (then ``dataset_meta`` is required).
        default_pipeline: transform configs when no experiment gives a test pipeline (None: a subclass's).
        backend: runs the packed image (default: :class:`TorchImage` of ``model``).
    """

    request: ClassVar[RequestKind] = "image"

    def __init__(
        self,
        model: nn.Module | None,
        dataset_meta: Mapping[str, Any] | None = None,
        default_pipeline: Sequence[dict[str, Any]] | None = None,
        backend: ImageBackend | None = None,
    ) -> None:
        if backend is None and model is None:
            raise ValueError("ImageServing needs a model or a backend")
        super().__init__(model, dataset_meta)
        self.backend: ImageBackend = backend if backend is not None else TorchImage(model)
        self._default = list(default_pipeline) if default_pipeline is not None else None
        self.pipeline = Compose(self.test_pipeline())
        self.flip_indices = [int(i) for i in self.dataset_meta.get("flip_indices", ())]

    @classmethod
    def from_backend(
        cls, backend: ImageBackend, pipeline: Sequence[dict[str, Any]], dataset_meta: Mapping[str, Any]
    ) -> ImageServing:
        """Whole images served by ``backend`` (an :class:`ImageBackend`) through ``pipeline``."""
        return cls(None, dataset_meta, pipeline, backend=backend)

    def default_pipeline(self) -> list[dict[str, Any]]:
        return list(self._default) if self._default is not None else super().default_pipeline()

    @torch.inference_mode()
    def predict(self, requests: Iterable[ImageRequest]) -> Iterator[list[PoseInstance]]:
        """Per request, the people found in ``request.img (H, W, 3)``: keypoints in image pixels."""
        for r in requests:
            sample = PoseSample(img=r.img, img_path=r.path, img_id=r.index, flip_indices=self.flip_indices)
            sample = self.pipeline(sample)
            yield instances_from_results(self.backend(sample.inputs[None], [sample]))
