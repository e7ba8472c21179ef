"""``posekit.Inferencer``: images, folders, videos and 2D keypoint JSON in through ``model.serving()`` (or the
``posekit.backends`` backend a checkpoint's suffix names); people, JSON and drawings out."""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from posekit.errors import ConfigError
from posekit.inference.detectors import PersonDetector, build_detector, detect
from posekit.inference.pipeline import keypoint_names
from posekit.inference.results import PoseInstance
from posekit.inference.sources import BoxFile, VideoReader, classify_input, read_image, read_keypoint_json
from posekit.inference.validate import as_bboxes, check_boxes
from posekit.inference.video import IouTracker, PoseSmoother, boxes_from_keypoints
from posekit.inference.writers import ResultWriter
from posekit.protocols.serving import ImageRequest, KeypointRequest, Serving

if TYPE_CHECKING:
    from posekit.nn.fuse import Precision


def backend_of(checkpoint: str | os.PathLike[str] | None) -> str | None:
    """The backend a checkpoint's suffix names (``model.onnx``: ``onnx``; registered or shipped), or None."""
    from posekit.registry import list_components
    from posekit.shipped import PROVIDERS

    suffix = Path(checkpoint).suffix[1:] if checkpoint is not None else ""
    known = set(list_components("backend")["backend"]) | {name for kind, name in PROVIDERS if kind == "backend"}
    return suffix if suffix in known else None


class Inferencer:
    """Pose inference on images, folders and videos with a torch or onnxruntime model.

    Args:
        config: as :func:`posekit.init_model` takes it; may be None with a ``.onnx`` checkpoint.
        checkpoint: weights (``.pth``/``.safetensors``, MMPose's included) or a backend's file (``.onnx``).
        detector: a ``posekit.detectors`` config or instance; default: the experiment's ``detector``.
        bbox_thr: drop detector and box-file boxes scoring at or below this.
        batch_size: crops per forward in top-down inference.
        flip_test: override the model's ``test_cfg.flip_test`` (torch); None keeps it.
        optimize: fold BatchNorm into convolutions and use channels_last (torch).
        compile: compile the backbone and neck with TorchInductor (torch; 10-60 s per input shape).
        precision: ``bf16``: backbone and neck in bfloat16 (torch).
        det_interval: in videos, detect every this many frames, boxes carried from keypoints in between.
        smooth: One-Euro filter keypoints per video track (cutoff ``smooth_min_cutoff`` Hz, ``smooth_beta``).
        num_threads: onnxruntime intra-op threads (0: all cores).
    """

    def __init__(
        self,
        config: Any = None,
        checkpoint: str | os.PathLike[str] | None = None,
        device: str | torch.device = "cpu",
        detector: Mapping[str, Any] | PersonDetector | None = None,
        bbox_thr: float = 0.3,
        batch_size: int = 16,
        flip_test: bool | None = None,
        optimize: bool = True,
        compile: bool = False,
        precision: Precision = "fp32",
        det_interval: int = 1,
        smooth: bool = False,
        smooth_min_cutoff: float = 1.0,
        smooth_beta: float = 0.007,
        num_threads: int = 0,
    ) -> None:
        if batch_size < 1 or det_interval < 1:
            raise ConfigError(f"batch_size and det_interval must be >= 1, got {batch_size} and {det_interval}")
        if precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        self.bbox_thr = bbox_thr
        self.det_interval = det_interval
        self.smooth = (smooth_min_cutoff, smooth_beta) if smooth else None
        self.model: torch.nn.Module | None = None
        experiment_detector = None
        if (backend := backend_of(checkpoint)) is not None:
            self.serving = self._init_backend(backend, config, checkpoint, flip_test, num_threads)
        else:
            if config is None:
                raise ConfigError("Inferencer needs a config (only an exported file, e.g. .onnx, carries its own)")
            self.serving = self._init_torch(config, checkpoint, device, flip_test, optimize, compile, precision)
            experiment_detector = getattr(getattr(self.model, "cfg", None), "detector", None)
        self.serving.batch_size = batch_size
        self.kind = self.serving.request
        self.dataset_meta = self.serving.dataset_meta
        det_cfg = detector if detector is not None else experiment_detector
        self.detector = build_detector(det_cfg) if det_cfg is not None and self.kind == "image+boxes" else None
        self.keypoint_names = keypoint_names(self.dataset_meta)

    def _init_torch(
        self,
        config: Any,
        checkpoint: Any,
        device: Any,
        flip_test: bool | None,
        optimize: bool,
        compile: bool,
        precision: Precision,
    ) -> Serving:
        from posekit.apis import init_model
        from posekit.nn.fuse import compile_for_inference, enable_bf16

        model = init_model(config, checkpoint, device, optimize=optimize)
        if flip_test is not None:
            model.test_cfg = model.test_cfg.model_copy(update={"flip_test": flip_test})
        serving = model.serving()
        if precision == "bf16":
            enable_bf16(model)
        if compile and serving.optimizable:
            compile_for_inference(model)
        self.model = model
        return serving

    def _init_backend(
        self, backend: str, config: Any, checkpoint: Any, flip_test: bool | None, num_threads: int
    ) -> Serving:
        from posekit.registry import get

        serve = get("backend", backend)  # unknown: names the distribution to install
        codec = None
        if config is not None:
            from posekit.apis import read_model_config
            from posekit.registry import build

            model_cfg, _ = read_model_config(config)
            decoder = (model_cfg.get("head") or {}).get("decoder")
            codec = build("codec", decoder, where="model.head.decoder") if decoder is not None else None
        return serve(checkpoint, codec=codec, flip_test=flip_test, num_threads=num_threads)

    def _served(self) -> str:
        return type(self.model).__name__ if self.model is not None else "this model"

    def _require(self, *kinds: str) -> None:
        if self.kind not in kinds:
            what = " or ".join(repr(k) for k in kinds)
            raise ConfigError(f"{self._served()} serves {self.kind!r} requests, not {what}")

    # ------------------------------------------------------------------ images

    def __call__(
        self, img: np.ndarray, bboxes: Any = None, bbox_format: Literal["xyxy", "xywh"] = "xyxy"
    ) -> list[PoseInstance]:
        """People in one ``(H, W, 3)`` uint8 BGR image; ``bboxes`` (``"image+boxes"`` servings): ``(N, 4)`` /
        ``(N, 5)`` in image pixels, None: the detector's, or the whole image without a detector."""
        if bboxes is not None and len(bboxes):
            self._require("image+boxes")
            boxes, scores = as_bboxes(bboxes, img.shape[:2], bbox_format)
            return next(self.serving.predict([ImageRequest(img, boxes=np.concatenate([boxes, scores[:, None]], 1))]))
        return self.predict_images([img])[0]

    def predict_images(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray | None] | None = None, paths: Sequence[str] = ()
    ) -> list[list[PoseInstance]]:
        """People in each ``(H, W, 3)`` uint8 BGR image (``boxes``: per image ``(N, 5)`` xyxy + score, or None
        for the detector's or the whole image); boxes of all images share forwards of up to ``batch_size``."""
        self._require("image+boxes", "image")
        names = list(paths) or [""] * len(images)
        per_image = boxes if boxes is not None else [None] * len(images)
        requests = (self._request(img, b, name) for img, b, name in zip(images, per_image, names, strict=True))
        return list(self.serving.predict(requests))

    def _request(self, img: np.ndarray, boxes: np.ndarray | None, path: str, index: int = -1) -> ImageRequest:
        """The request for ``img``: with its boxes for ``"image+boxes"`` servings (see :meth:`_boxes`)."""
        if self.kind != "image+boxes":
            if boxes is not None:
                self._require("image+boxes")
            return ImageRequest(img, path, index)
        return ImageRequest(img, path, index, self._boxes(img, boxes))

    def _boxes(self, img: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
        """``(N, 5)`` boxes for ``img``: the given ones or the detector's (above ``bbox_thr``), else the whole image."""
        if boxes is None and self.detector is not None:
            boxes = detect(self.detector, img)
        elif boxes is not None:  # the user's: NaN, inverted or outside boxes are refused, partly outside clipped
            boxes = np.asarray(boxes, np.float32)  # as MMPose keeps boxes: float64 ones crop a hair differently
            boxes = np.concatenate([check_boxes(boxes[:, :4], img.shape[:2], "boxes"), boxes[:, 4:]], axis=1)
        if boxes is None:
            h, w = img.shape[:2]
            return np.array([[0, 0, w, h, 1]], np.float32)
        return boxes[boxes[:, 4] > self.bbox_thr]

    # ------------------------------------------------------------------ video

    def predict_video(
        self, path: str | os.PathLike[str], box_file: BoxFile | None = None
    ) -> Iterator[tuple[int, np.ndarray, list[PoseInstance]]]:
        """``(frame index, frame, people)`` for each frame of a video, people tracked (``track_id``);
        ``box_file`` gives boxes per frame index."""
        self._require("image+boxes", "image")
        reader = VideoReader(Path(path))
        tracker = IouTracker()
        smoother = PoseSmoother(*self.smooth) if self.smooth is not None else None
        previous: list[PoseInstance] = []
        for index, frame in enumerate(reader):
            if self.kind != "image+boxes":
                request = ImageRequest(frame, str(path), index)
            elif box_file is None and self.detector is not None and previous and index % self.det_interval:
                request = ImageRequest(frame, str(path), index, boxes_from_keypoints(previous))  # no score to threshold
            else:
                boxes = box_file.boxes_for(index) if box_file is not None else None
                request = ImageRequest(frame, str(path), index, self._boxes(frame, boxes))
            people = next(self.serving.predict([request]))
            tracker(people)
            if smoother is not None:
                smoother(people, index / reader.fps)
            previous = people
            yield index, frame, people

    # ------------------------------------------------------------------ keypoint sequences

    def lift(
        self, frames: Sequence[Sequence[PoseInstance]], image_size: tuple[int, int], source_meta: Mapping[str, Any]
    ) -> list[list[PoseInstance]]:
        """3D people per frame from tracked 2D people per frame (a ``"keypoints"`` serving)."""
        self._require("keypoints")
        return self.serving.lift(KeypointRequest(frames, image_size, dict(source_meta)))

    # ------------------------------------------------------------------ files

    def run(
        self,
        inputs: str | os.PathLike[str],
        out_dir: str | os.PathLike[str] | None = None,
        boxes: str | os.PathLike[str] | BoxFile | None = None,
        show_kpt_thr: float = 0.3,
        draw: bool = True,
    ) -> list[Path]:
        """Run on an image, a folder of images, a video, or a 2D keypoint JSON; the files written.

        Args:
            out_dir: where ``predictions/`` and ``vis/`` go; None: write nothing.
            boxes: a boxes JSON file for ``"image+boxes"`` servings (:mod:`posekit.inference.sources`).
            show_kpt_thr: keypoints scoring at or below this are not drawn.
        """
        kind, files = classify_input(inputs)
        box_file = boxes if isinstance(boxes, BoxFile) or boxes is None else BoxFile.read(boxes)
        if box_file is not None:
            self._require("image+boxes")
        writer = ResultWriter(Path(out_dir), self.serving, draw, show_kpt_thr) if out_dir is not None else None
        if kind == "keypoints":
            frames, image_size, source_meta = read_keypoint_json(files[0])
            lifted = self.lift(frames, image_size, source_meta)
            return writer.sequence(files[0], image_size, lifted) if writer is not None else []
        if self.kind == "keypoints":
            raise ConfigError(
                f"{self._served()} serves 'keypoints' requests: give it a 2D keypoint .json (from `posekit infer`), "
                f"not {inputs}"
            )
        if kind == "video":
            return self._run_video(files[0], writer, box_file)
        return self._run_images(files, writer, box_file)

    def _image_boxes(self, path: Path, box_file: BoxFile | None) -> np.ndarray | None:
        if box_file is None:
            return None
        boxes = box_file.boxes_for(path)
        if boxes is None:
            warnings.warn(f"boxes file {box_file.path} has no entry for {path.name}: no people there", stacklevel=3)
            return np.zeros((0, 5), np.float32)
        return boxes

    def _run_images(self, files: list[Path], writer: ResultWriter | None, box_file: BoxFile | None) -> list[Path]:
        seen: deque[tuple[Path, np.ndarray]] = deque()  # loaded, not yet served

        def requests() -> Iterator[ImageRequest]:
            for f in files:
                img = read_image(f)
                seen.append((f, img))
                yield self._request(img, self._image_boxes(f, box_file), str(f))

        written: list[Path] = []
        for people in self.serving.predict(requests()):
            f, img = seen.popleft()
            if writer is not None:
                written += writer.image(f, img, people)
        return written

    def _run_video(self, path: Path, writer: ResultWriter | None, box_file: BoxFile | None) -> list[Path]:
        if writer is None:
            for _ in self.predict_video(path, box_file):
                pass
            return []
        info = VideoReader(path)
        fps, size = info.fps, info.size
        info.capture.release()
        with writer.video(path, fps, size) as record:
            for index, frame, people in self.predict_video(path, box_file):
                record.add(index, frame, people)
        return record.finish()
