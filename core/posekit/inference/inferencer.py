"""``posekit.Inferencer``: images, folders and videos in; keypoints, JSON and drawings out.

Top-down models take person boxes: given boxes, a boxes file (see
:mod:`posekit.inference.sources`), a detector (entry-point group ``posekit.detectors``), or the
whole image. All boxes of an image — and of several images, up to ``batch_size`` — go through
the model in one forward. Bottom-up models need no boxes. Pose lifters take a 2D keypoint JSON
(``posekit infer``'s own output) and return 3D keypoints. A ``.onnx`` checkpoint (from
``posekit export``) runs top-down inference on onnxruntime instead of torch.

Outputs of :meth:`Inferencer.run` under ``out_dir``: ``predictions/<name>.json`` (one per image
or video) and ``vis/<name>`` (the drawn image or video; a folder of 3D plots for lifting).
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from posekit.errors import ConfigError
from posekit.inference.detectors import PersonDetector, build_detector, detect
from posekit.inference.pipeline import keypoint_names, paradigm, test_pipeline
from posekit.inference.results import PoseInstance, stack_instances
from posekit.inference.sources import (
    BoxFile,
    VideoReader,
    VideoWriter,
    classify_input,
    read_image,
    read_keypoint_json,
)
from posekit.inference.topdown import (
    Precision,
    TopdownBackend,
    TopdownPreprocessor,
    TorchTopdown,
    as_bboxes,
    enable_bf16,
    stack_inputs,
)
from posekit.inference.validate import check_boxes
from posekit.inference.video import IouTracker, PoseSmoother, boxes_from_keypoints
from posekit.jsonsafe import to_json
from posekit.structures import PoseSample


class Inferencer:
    """Pose inference on images, folders and videos with a torch or onnxruntime model.

    Args:
        config: the experiment (file, mapping or Experiment) or model dict, as
            :func:`posekit.init_model` takes it; may be None with a ``.onnx`` checkpoint.
        checkpoint: weights (``.pth``/``.safetensors``, MMPose's included) or an exported ``.onnx``
            file (onnxruntime backend, top-down only).
        device: torch device for the model (``cpu``, ``cuda:0``).
        detector: person detector config ``{"type": Name, ...}`` (``posekit.detectors``) or an
            instance; default: the experiment's ``detector``, else none.
        bbox_thr: drop detector and box-file boxes scoring at or below this (default 0.3).
        batch_size: crops per forward in top-down inference (default 16).
        flip_test: override the model's ``test_cfg.flip_test`` (torch backend); None keeps it.
        optimize: fold BatchNorm into convolutions and use channels_last (torch; default True).
        compile: compile the backbone and neck with TorchInductor, weights frozen (torch; default
            False): faster forwards after a one-off compilation per input shape (10-60 s).
        precision: ``fp32`` (default) or ``bf16`` (torch: backbone and neck in bfloat16).
        det_interval: in videos, run the detector every this many frames and carry boxes from the
            previous frame's keypoints in between (default 1: every frame).
        smooth: smooth keypoints over time in videos with a One-Euro filter per track (default False).
        smooth_min_cutoff: the One-Euro filter's cutoff at rest, in Hz (default 1.0).
        smooth_beta: the One-Euro filter's speed coefficient (default 0.007).
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
        self.batch_size = batch_size
        self.det_interval = det_interval
        self.smooth = (smooth_min_cutoff, smooth_beta) if smooth else None
        self.model: torch.nn.Module | None = None
        self.backend: TopdownBackend | None = None
        experiment_detector = None
        if checkpoint is not None and Path(checkpoint).suffix == ".onnx":
            self._init_onnx(config, checkpoint, flip_test, num_threads)
        else:
            if config is None:
                raise ConfigError("Inferencer needs a config (only a .onnx checkpoint carries its own)")
            self._init_torch(config, checkpoint, device, flip_test, optimize, compile, precision)
            cfg = getattr(self.model, "cfg", None)
            experiment_detector = getattr(cfg, "detector", None)
        det_cfg = detector if detector is not None else experiment_detector
        self.detector = build_detector(det_cfg) if det_cfg is not None and self.kind == "topdown" else None
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
    ) -> None:
        from posekit.apis import init_model
        from posekit.inference.pipeline import dataset_meta

        model = init_model(config, checkpoint, device)
        if flip_test is not None:
            model.test_cfg = model.test_cfg.model_copy(update={"flip_test": flip_test})
        self.kind = paradigm(model)
        self.dataset_meta = dataset_meta(model)
        if optimize and self.kind != "lifting":
            from posekit.nn.fuse import optimize_for_inference

            optimize_for_inference(model)
        if precision == "bf16":
            enable_bf16(model)
        if compile and self.kind != "lifting":
            from posekit.nn.fuse import compile_for_inference

            compile_for_inference(model)
        self.model = model
        if self.kind == "topdown":
            self.backend = TorchTopdown(model)
            self.preprocess = TopdownPreprocessor(test_pipeline(model), self.dataset_meta)
        elif self.kind == "bottomup":
            from posekit.inference.bottomup import BottomupRunner

            self.bottomup = BottomupRunner(model)
        else:
            from posekit.inference.lifting import Lifter

            self.lifter = Lifter(model)

    def _init_onnx(self, config: Any, checkpoint: Any, flip_test: bool | None, num_threads: int) -> None:
        from posekit.inference.onnx_backend import OnnxTopdown

        codec = None
        if config is not None:
            from posekit.apis import read_model_config
            from posekit.registry import build

            model_cfg, _ = read_model_config(config)
            decoder = (model_cfg.get("head") or {}).get("decoder")
            codec = build("codec", decoder, where="model.head.decoder") if decoder is not None else None
        backend = OnnxTopdown(checkpoint, codec=codec, num_threads=num_threads)
        if flip_test is not None and flip_test != backend.flip_test:
            raise ConfigError(
                f"{checkpoint} was exported with flip_test={backend.flip_test}; re-export it with "
                f"`posekit export ... {'--flip-test' if flip_test else '--no-flip-test'}`"
            )
        self.kind = "topdown"
        self.backend = backend
        self.dataset_meta = backend.dataset_meta
        self.preprocess = TopdownPreprocessor(backend.pipeline, self.dataset_meta)

    # ------------------------------------------------------------------ images

    def __call__(
        self, img: np.ndarray, bboxes: Any = None, bbox_format: Literal["xyxy", "xywh"] = "xyxy"
    ) -> list[PoseInstance]:
        """People in one ``(H, W, 3)`` uint8 BGR image.

        Args:
            img: the image.
            bboxes: top-down only: ``(N, 4)`` / ``(N, 5)`` boxes in image pixels; None: the
                detector's boxes, or the whole image without a detector.
            bbox_format: ``xyxy`` (default) or ``xywh``.
        """
        if bboxes is not None and len(bboxes):
            if self.kind != "topdown":
                raise ConfigError(f"bboxes are for top-down models; this is a {self.kind} model")
            boxes, scores = as_bboxes(bboxes, img.shape[:2], bbox_format)
            return next(self._topdown_stream([(img, np.concatenate([boxes, scores[:, None]], axis=1), "")]))
        return self.predict_images([img])[0]

    def predict_images(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray | None] | None = None, paths: Sequence[str] = ()
    ) -> list[list[PoseInstance]]:
        """People in each image; top-down boxes of all images share forwards of up to ``batch_size``.

        Args:
            images: ``(H, W, 3)`` uint8 BGR images.
            boxes: per image ``(N, 5)`` xyxy + score boxes, or None (detector or whole image).
            paths: the images' file names, kept in the samples' metadata.
        """
        if self.kind == "lifting":
            raise ConfigError(
                "a pose lifter takes 2D keypoint sequences; use Inferencer.lift or a keypoint .json input"
            )
        names = list(paths) or [""] * len(images)
        if self.kind == "bottomup":
            return [self.bottomup(img, name) for img, name in zip(images, names, strict=True)]
        per_image = boxes if boxes is not None else [None] * len(images)
        items = ((img, self._boxes(img, b), name) for img, b, name in zip(images, per_image, names, strict=True))
        return list(self._topdown_stream(items))

    def _boxes(self, img: np.ndarray, boxes: np.ndarray | None) -> np.ndarray:
        """``(N, 5)`` boxes for ``img``: the given ones or the detector's (above ``bbox_thr``), else the whole image."""
        if boxes is None and self.detector is not None:
            boxes = detect(self.detector, img)
        elif boxes is not None:  # the user's: NaN, inverted or outside boxes are refused, partly outside clipped
            boxes = np.concatenate([check_boxes(boxes[:, :4], img.shape[:2], "boxes"), boxes[:, 4:]], axis=1)
        if boxes is None:
            h, w = img.shape[:2]
            return np.array([[0, 0, w, h, 1]], np.float32)
        return boxes[boxes[:, 4] > self.bbox_thr]

    def _topdown_stream(self, items: Iterable[tuple[np.ndarray, np.ndarray, str]]) -> Iterator[list[PoseInstance]]:
        """Per image, its people; crops are pooled across images into forwards of ``batch_size``."""
        pending: list[tuple[np.ndarray, list[PoseSample]]] = []
        count = 0
        for img, boxes, path in items:
            samples = self.preprocess(img, boxes[:, :4], boxes[:, 4], path)
            pending.append((boxes, samples))
            count += len(samples)
            if count >= self.batch_size:
                yield from self._flush(pending)
                pending, count = [], 0
        yield from self._flush(pending)

    def _flush(self, pending: list[tuple[np.ndarray, list[PoseSample]]]) -> Iterator[list[PoseInstance]]:
        assert self.backend is not None
        samples = [s for _, group in pending for s in group]
        parts = [
            self.backend(stack_inputs(samples[i : i + self.batch_size]), samples[i : i + self.batch_size])
            for i in range(0, len(samples), self.batch_size)
        ]
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

    # ------------------------------------------------------------------ video

    def predict_video(
        self, path: str | os.PathLike[str], box_file: BoxFile | None = None
    ) -> Iterator[tuple[int, np.ndarray, list[PoseInstance]]]:
        """``(frame index, frame, people)`` for each frame of a video, people tracked (``track_id``).

        With a detector and ``det_interval > 1``, the detector runs every ``det_interval``
        frames (and whenever nobody was found) and boxes are carried from the previous frame's
        keypoints in between. With ``smooth``, keypoints are One-Euro filtered per track.

        Args:
            path: the video file.
            box_file: boxes per frame index (see :class:`~posekit.inference.sources.BoxFile`).
        """
        reader = VideoReader(Path(path))
        tracker = IouTracker()
        smoother = PoseSmoother(*self.smooth) if self.smooth is not None else None
        previous: list[PoseInstance] = []
        for index, frame in enumerate(reader):
            if self.kind == "bottomup":
                people = self.bottomup(frame, str(path), index)
            elif self.kind == "topdown":
                if box_file is None and self.detector is not None and previous and index % self.det_interval:
                    boxes = boxes_from_keypoints(previous)  # carried: no detector score to threshold
                else:
                    boxes = self._boxes(frame, box_file.boxes_for(index) if box_file is not None else None)
                people = next(self._topdown_stream([(frame, boxes, str(path))]))
            else:
                raise ConfigError("a pose lifter takes a 2D keypoint .json, not a video")
            tracker(people)
            if smoother is not None:
                smoother(people, index / reader.fps)
            previous = people
            yield index, frame, people

    # ------------------------------------------------------------------ lifting

    def lift(
        self, frames: Sequence[Sequence[PoseInstance]], image_size: tuple[int, int], source_meta: Mapping[str, Any]
    ) -> list[list[PoseInstance]]:
        """3D people per frame from tracked 2D people per frame (see :class:`~posekit.inference.lifting.Lifter`)."""
        if self.kind != "lifting":
            raise ConfigError(f"lifting needs a PoseLifter model; this is a {self.kind} model")
        return self.lifter(frames, image_size, dict(source_meta))

    # ------------------------------------------------------------------ files

    def _header(self) -> dict[str, Any]:
        return {
            "dataset_name": self.dataset_meta.get("dataset_name", ""),
            "keypoint_names": self.keypoint_names,
            "skeleton_links": [[int(a), int(b)] for a, b in self.dataset_meta.get("skeleton_links", ())],
        }

    def run(
        self,
        inputs: str | os.PathLike[str],
        out_dir: str | os.PathLike[str] | None = None,
        boxes: str | os.PathLike[str] | BoxFile | None = None,
        show_kpt_thr: float = 0.3,
        draw: bool = True,
    ) -> list[Path]:
        """Run on an image, a folder of images, a video, or (lifting) a 2D keypoint JSON; write the results.

        Args:
            inputs: the input path.
            out_dir: where ``predictions/`` and ``vis/`` go; None: write nothing (returns []).
            boxes: a boxes JSON file for top-down models (see :mod:`posekit.inference.sources`).
            show_kpt_thr: keypoints scoring at or below this are not drawn (default 0.3).
            draw: write drawn images / videos / 3D plots (default True).

        Returns:
            the files written.
        """
        kind, files = classify_input(inputs)
        box_file = boxes if isinstance(boxes, BoxFile) or boxes is None else BoxFile.read(boxes)
        if box_file is not None and self.kind != "topdown":
            raise ConfigError(f"boxes are for top-down models; this is a {self.kind} model")
        out = Path(out_dir) if out_dir is not None else None
        if out is not None:
            (out / "predictions").mkdir(parents=True, exist_ok=True)
            if draw:
                (out / "vis").mkdir(parents=True, exist_ok=True)
        if kind == "keypoints":
            return self._run_lifting(files[0], out, draw)
        if self.kind == "lifting":
            raise ConfigError(f"a pose lifter takes a 2D keypoint .json (from `posekit infer`), got {inputs}")
        if kind == "video":
            return self._run_video(files[0], out, box_file, show_kpt_thr, draw)
        return self._run_images(files, out, box_file, show_kpt_thr, draw)

    def _image_boxes(self, path: Path, box_file: BoxFile | None) -> np.ndarray | None:
        if box_file is None:
            return None
        boxes = box_file.boxes_for(path)
        if boxes is None:
            warnings.warn(f"boxes file {box_file.path} has no entry for {path.name}: no people there", stacklevel=3)
            return np.zeros((0, 5), np.float32)
        return boxes

    def _run_images(
        self, files: list[Path], out: Path | None, box_file: BoxFile | None, kpt_thr: float, draw: bool
    ) -> list[Path]:
        written: list[Path] = []
        images = ((f, read_image(f)) for f in files)
        if self.kind == "bottomup":
            results: Iterable[tuple[Path, np.ndarray, list[PoseInstance]]] = (
                (f, img, self.bottomup(img, str(f))) for f, img in images
            )
        else:
            seen: deque[tuple[Path, np.ndarray]] = deque()  # loaded, not yet yielded

            def items() -> Iterator[tuple[np.ndarray, np.ndarray, str]]:
                for f, img in images:
                    seen.append((f, img))
                    yield img, self._boxes(img, self._image_boxes(f, box_file)), str(f)

            results = ((*seen.popleft(), people) for people in self._topdown_stream(items()))
        for f, img, people in results:
            if out is None:
                continue
            record = {"image": str(f), "width": img.shape[1], "height": img.shape[0], **self._header()}
            record["instances"] = [p.to_json() for p in people]
            written.append(_write_json(out / "predictions" / f"{f.stem}.json", record))
            if draw:
                written.append(self._draw_image(img, people, out / "vis" / f.name, kpt_thr))
        return written

    def _draw_image(self, img: np.ndarray, people: list[PoseInstance], path: Path, kpt_thr: float) -> Path:
        import cv2

        from posekit.visualization import draw_poses

        kpts, scores = stack_instances(people, len(self.keypoint_names))
        bboxes = np.array([p.bbox for p in people], np.float32).reshape(-1, 4) if self.kind == "topdown" else None
        drawn = draw_poses(img, kpts, scores, self.dataset_meta, kpt_thr, bboxes=bboxes)
        ok, data = cv2.imencode(path.suffix or ".jpg", drawn)
        if not ok:
            raise ConfigError(f"cannot encode the drawn image as {path.suffix!r}")
        data.tofile(path)
        return path

    def _run_video(
        self, path: Path, out: Path | None, box_file: BoxFile | None, kpt_thr: float, draw: bool
    ) -> list[Path]:
        from posekit.visualization import draw_poses

        reader_info = VideoReader(path)
        fps, size = reader_info.fps, reader_info.size
        reader_info.capture.release()
        writer = VideoWriter(out / "vis" / f"{path.stem}.mp4", fps, size) if out is not None and draw else None
        frames = []
        try:
            for index, frame, people in self.predict_video(path, box_file):
                frames.append({"frame_index": index, "instances": [p.to_json() for p in people]})
                if writer is not None:
                    kpts, scores = stack_instances(people, len(self.keypoint_names))
                    bboxes = np.array([p.bbox for p in people], np.float32).reshape(-1, 4)
                    writer.write(draw_poses(frame, kpts, scores, self.dataset_meta, kpt_thr, bboxes=bboxes))
        finally:
            if writer is not None:
                writer.close()
        if out is None:
            return []
        record = {
            "video": str(path),
            "fps": fps,
            "width": size[0],
            "height": size[1],
            **self._header(),
            "frames": frames,
        }
        written = [_write_json(out / "predictions" / f"{path.stem}.json", record)]
        return [*written, out / "vis" / f"{path.stem}.mp4"] if writer is not None else written

    def _run_lifting(self, path: Path, out: Path | None, draw: bool) -> list[Path]:
        import cv2

        from posekit.visualization import draw_pose_3d

        frames, image_size, source_meta = read_keypoint_json(path)
        lifted = self.lift(frames, image_size, source_meta)
        if out is None:
            return []
        record = {
            "source": str(path),
            "width": image_size[0],
            "height": image_size[1],
            **self._header(),
            "keypoints_3d": True,
        }
        record["frames"] = [
            {"frame_index": i, "instances": [p.to_json() for p in people]} for i, people in enumerate(lifted)
        ]
        written = [_write_json(out / "predictions" / f"{path.stem}_3d.json", record)]
        if draw:
            folder = out / "vis" / f"{path.stem}_3d"
            folder.mkdir(parents=True, exist_ok=True)
            for i, people in enumerate(lifted):
                kpts = np.stack([p.keypoints for p in people]) if people else np.zeros((0, len(self.keypoint_names), 3))
                target = folder / f"frame_{i:06d}.png"
                cv2.imwrite(str(target), draw_pose_3d(kpts, self.dataset_meta, title=f"frame {i}"))
                written.append(target)
        return written


def _write_json(path: Path, record: dict[str, Any]) -> Path:
    path.write_text(to_json(record, str(path)), encoding="utf-8")
    return path
