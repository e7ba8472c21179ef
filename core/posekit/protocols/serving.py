"""Serving protocol: how a paradigm is served by :class:`posekit.Inferencer`, ``posekit infer`` and videos.

Servings are registered by class name under ``posekit.servings``. Request kinds:

- ``"image+boxes"``: an image and its ``(N, 5)`` person boxes (top-down); served by :meth:`Serving.predict`;
- ``"image"``: a whole image (bottom-up, or a paradigm of its own); served by :meth:`Serving.predict`;
- ``"keypoints"``: tracked 2D keypoint sequences (lifting); served by :meth:`Serving.lift`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from posekit.protocols.estimator import contract_error

if TYPE_CHECKING:
    from torch import nn

    from posekit.inference.results import PoseInstance

RequestKind = Literal["image+boxes", "image", "keypoints"]


@dataclass
class ImageRequest:
    """One ``(H, W, 3)`` uint8 BGR image to serve, with ``(N, 5)`` xyxy + score person boxes in image
    pixels for ``"image+boxes"`` servings (None for ``"image"``); ``index`` -1 and ``path`` "" mean none.
    """

    img: np.ndarray
    path: str = ""
    index: int = -1
    boxes: np.ndarray | None = None


@dataclass
class KeypointRequest:
    """Tracked 2D people per frame (``posekit infer``'s JSON) to lift: ``keypoints (K, 2)`` in image
    pixels, ``track_id`` linking frames; ``image_size`` is ``(w, h)``.
    """

    frames: Sequence[Sequence[PoseInstance]]
    image_size: tuple[int, int]
    source_meta: Mapping[str, Any]


class Serving:
    """Serves one estimator; subclasses set :attr:`request` and implement :meth:`predict` or :meth:`lift`.

    ``model`` is None only for a backend that carries its own model (an exported ``.onnx`` file);
    then ``dataset_meta`` is required.
    """

    #: what one request holds (see the module docstring)
    request: ClassVar[RequestKind] = "image"
    #: whether BatchNorm folding, channels_last and compilation apply to the model (2D conv models)
    optimizable: ClassVar[bool] = True

    def __init__(self, model: nn.Module | None, dataset_meta: Mapping[str, Any] | None = None, batch_size: int = 16):
        if dataset_meta is None:
            if model is None:
                raise ValueError("Serving needs dataset_meta when it has no model")
            from posekit.inference.pipeline import dataset_meta as model_meta

            dataset_meta = model_meta(model)
        self.model = model
        self.dataset_meta: dict[str, Any] = dict(dataset_meta)
        self.batch_size = batch_size

    @classmethod
    def from_backend(cls, backend: Any, pipeline: Sequence[dict[str, Any]], dataset_meta: Mapping[str, Any]) -> Serving:
        """This serving without a model: ``backend`` runs the packed inputs (e.g. an exported file on onnxruntime).

        ``pipeline`` and ``dataset_meta`` are those recorded with the export.
        """
        raise contract_error(cls, "from_backend(backend, pipeline, dataset_meta)", "serves an exported model")

    @property
    def owner(self) -> object:
        """Who errors name: the estimator (or this serving when it has none)."""
        return self.model if self.model is not None else self

    # ------------------------------------------------------------------ pipeline

    def test_pipeline(self) -> list[dict[str, Any]]:
        """The experiment's ``data.test`` (else ``data.val``) pipeline without ``train_only`` transforms,
        else :meth:`default_pipeline`."""
        from posekit.inference.pipeline import experiment_pipeline

        pipeline = experiment_pipeline(self.model) if self.model is not None else None
        return pipeline if pipeline is not None else self.default_pipeline()

    def default_pipeline(self) -> list[dict[str, Any]]:
        """The paradigm's own test pipeline, built from its codec (used without an experiment)."""
        raise contract_error(self, "default_pipeline()", "builds the test pipeline when no experiment gives one")

    # ------------------------------------------------------------------ requests

    def predict(self, requests: Iterable[ImageRequest]) -> Iterator[list[PoseInstance]]:
        """Per request, in order, its people in image pixels (a serving may pool requests into one forward)."""
        raise contract_error(self, "predict(requests)", f"serves {self.request!r} requests")

    def lift(self, request: KeypointRequest) -> list[list[PoseInstance]]:
        """Per frame of ``request``, its people lifted (``keypoints (K, 3)``)."""
        raise contract_error(self, "lift(request)", f"serves {self.request!r} requests")

    # ------------------------------------------------------------------ results

    def draw(
        self, img: np.ndarray | None, people: Sequence[PoseInstance], kpt_thr: float, title: str = ""
    ) -> np.ndarray:
        """The drawing of ``people`` (on ``img`` for image requests): ``(H, W, 3)`` uint8 BGR.

        Default: 2D skeletons on the image, with the person boxes for ``"image+boxes"`` requests.
        """
        from posekit.inference.results import stack_instances
        from posekit.visualization import draw_poses

        if img is None:
            raise contract_error(self, "draw(img, people, kpt_thr, title)", "draws results that have no image")
        kpts, scores = stack_instances(people, len(self.dataset_meta.get("keypoint_id2name") or ()))
        boxes = np.array([p.bbox for p in people], np.float32).reshape(-1, 4) if self.request == "image+boxes" else None
        return draw_poses(img, kpts, scores, self.dataset_meta, kpt_thr, bboxes=boxes)
