"""Inference inputs: images, folders and videos (OpenCV), and person boxes from a JSON file.

Box files (``--boxes``), all in image pixels:

- COCO detections: a list of ``{"image_id", "bbox": [x, y, w, h], "score", "category_id"}``
  (only ``category_id`` 1, person, is kept when present). An image matches ``image_id`` when
  its file name's stem is that number (COCO's ``000000000785.jpg`` is 785); a video frame
  matches when ``image_id`` is its index (0-based);
- a COCO annotation file (``images`` + ``annotations``): its ground-truth boxes, matched by
  ``file_name`` (score 1);
- a boxes mapping ``{"<file name, stem or frame index>": [[x1, y1, x2, y2(, score)], ...]}``;
- a box list ``[[x1, y1, x2, y2(, score)], ...]`` used for every image or frame.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from posekit.errors import DataError
from posekit.inference.results import PoseInstance

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})

InputKind = Literal["image", "folder", "video", "keypoints"]


def classify_input(path: str | Path) -> tuple[InputKind, list[Path]]:
    """What ``path`` is (``keypoints``: a 2D keypoint ``.json``) and its files (a folder's images, by name)."""
    path = Path(path)
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DataError(f"input folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return "folder", images
    if not path.is_file():
        raise DataError(f"input {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image", [path]
    if suffix in VIDEO_SUFFIXES:
        return "video", [path]
    if suffix == ".json":
        return "keypoints", [path]
    raise DataError(
        f"input {path}: unknown file type {suffix!r}; give an image ({', '.join(sorted(IMAGE_SUFFIXES))}), "
        f"a video ({', '.join(sorted(VIDEO_SUFFIXES))}), a folder of images, or a keypoint .json for a lifter"
    )


def read_image(path: Path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 BGR (the pipeline's ``LoadImage``); errors name the file."""
    from posekit.structures import PoseSample
    from posekit.transforms.loading import LoadImage

    img = LoadImage()(PoseSample(img_path=str(path))).img
    assert img is not None
    return img


class VideoReader:
    """Frames of a video file, ``(H, W, 3)`` uint8 BGR, with its ``fps`` and ``size`` (w, h)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            raise DataError(f"cannot open video {path} with OpenCV")
        fps = float(self.capture.get(cv2.CAP_PROP_FPS))
        self.fps = fps if fps > 0 else 30.0
        self.size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = self.capture.read()
                if not ok:
                    return
                yield frame
        finally:
            self.capture.release()


def open_video_writer(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    """An OpenCV writer of ``(H, W, 3)`` uint8 BGR frames of ``size`` (w, h) to an ``.mp4`` (``mp4v``) or ``.avi``
    (``MJPG``)."""
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    if not writer.isOpened():
        raise DataError(f"cannot write video {path} with OpenCV")
    return writer


def _as_boxes(value: Any, where: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 5), np.float32)
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise DataError(
            f"{where}: expected a list of [x1, y1, x2, y2] or [x1, y1, x2, y2, score], got shape {arr.shape}"
        )
    if arr.shape[1] == 4:
        arr = np.concatenate([arr, np.ones((len(arr), 1), np.float32)], axis=1)
    return arr


class BoxFile:
    """Person boxes of a parsed JSON ``data`` (formats: the module docstring) from ``source`` (a file name)."""

    def __init__(self, data: Any, source: str = "<boxes>") -> None:
        self.path = Path(source)
        self.every: np.ndarray | None = None
        self.by_key: dict[str, np.ndarray] = {}
        if isinstance(data, dict) and "annotations" in data and "images" in data:
            self._from_coco_annotations(data)
        elif isinstance(data, dict):
            self.by_key = {str(k): _as_boxes(v, f"{source}: entry {k!r}") for k, v in data.items()}
        elif isinstance(data, list) and data and isinstance(data[0], dict):
            self._from_detections(data)
        elif isinstance(data, list):
            self.every = _as_boxes(data, source)
        else:
            raise DataError(f"{source}: expected COCO detections, a COCO annotation file, a mapping or a box list")

    @classmethod
    def read(cls, path: str | Path) -> BoxFile:
        """Read a boxes JSON file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"cannot read boxes file {path}: {e}") from e
        return cls(data, str(path))

    def _add(self, key: str, bbox_xywh: Any, score: float) -> None:
        x, y, w, h = (float(v) for v in bbox_xywh)
        row = np.array([[x, y, x + w, y + h, score]], np.float32)
        self.by_key[key] = np.concatenate([self.by_key.get(key, np.zeros((0, 5), np.float32)), row])

    def _from_detections(self, data: list[dict[str, Any]]) -> None:
        for i, det in enumerate(data):
            if "image_id" not in det or "bbox" not in det:
                raise DataError(f"{self.path}: detection {i} needs 'image_id' and 'bbox' [x, y, w, h]")
            if det.get("category_id", 1) != 1:
                continue
            self._add(str(int(det["image_id"])), det["bbox"], float(det.get("score", 1.0)))

    def _from_coco_annotations(self, data: dict[str, Any]) -> None:
        names = {img["id"]: Path(img["file_name"]).name for img in data["images"]}
        for ann in data["annotations"]:
            if ann.get("category_id", 1) != 1 or ann.get("iscrowd", 0) or ann["image_id"] not in names:
                continue
            self._add(names[ann["image_id"]], ann["bbox"], 1.0)

    def boxes_for(self, key: Path | int) -> np.ndarray | None:
        """``(N, 5)`` boxes for an image file (by name, stem or numeric stem) or a frame index."""
        if self.every is not None:
            return self.every
        if isinstance(key, int):
            candidates = [str(key)]
        else:
            candidates = [key.name, key.stem]
            if key.stem.isdigit():
                candidates.append(str(int(key.stem)))
        return next((self.by_key[c] for c in candidates if c in self.by_key), None)


def read_keypoint_json(
    path: str | os.PathLike[str],
) -> tuple[list[list[PoseInstance]], tuple[int, int], dict[str, Any]]:
    """Read ``posekit infer``'s JSON (an image's or a video's): people per frame, (w, h), and its definition."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read keypoint file {path}: {e}") from e
    if not isinstance(data, dict) or not ("frames" in data or "instances" in data):
        raise DataError(f"{path}: expected the JSON `posekit infer` writes (with 'frames' or 'instances')")
    raw_frames = data["frames"] if "frames" in data else [{"instances": data["instances"]}]
    frames = [[PoseInstance.from_json(p) for p in f["instances"]] for f in raw_frames]
    try:
        size = (int(data["width"]), int(data["height"]))
    except KeyError as e:
        raise DataError(f"{path}: missing the image size {e.args[0]!r}") from e
    return (
        frames,
        size,
        {"dataset_name": data.get("dataset_name", ""), "keypoint_names": data.get("keypoint_names", [])},
    )
