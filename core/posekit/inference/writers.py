"""Inference results on disk: ``predictions/<stem>.json`` (``<stem>_3d.json`` for lifted sequences; strict
JSON with ``dataset_name, keypoint_names, skeleton_links``) and the serving's drawings under ``vis/``
(``<name>``, ``<stem>.mp4``, ``<stem>_3d/frame_<i>.png``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from posekit.errors import DataError
from posekit.inference.pipeline import keypoint_names
from posekit.inference.results import PoseInstance
from posekit.inference.sources import open_video_writer
from posekit.jsonsafe import to_json
from posekit.protocols.serving import Serving


def write_json(path: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as strict JSON; an error names the file when a number is not finite."""
    path.write_text(to_json(record, str(path)), encoding="utf-8")
    return path


class ResultWriter:
    """Writes one run's predictions and drawings (``serving.draw``; keypoints above ``kpt_thr``) under ``out``."""

    def __init__(self, out: Path, serving: Serving, draw: bool = True, kpt_thr: float = 0.3) -> None:
        self.out = out
        self.serving = serving
        self.draw = draw
        self.kpt_thr = kpt_thr
        (out / "predictions").mkdir(parents=True, exist_ok=True)
        if draw:
            (out / "vis").mkdir(parents=True, exist_ok=True)

    def header(self) -> dict[str, Any]:
        """The keypoint definition every record carries."""
        meta = self.serving.dataset_meta
        return {
            "dataset_name": meta.get("dataset_name", ""),
            "keypoint_names": keypoint_names(meta),
            "skeleton_links": [[int(a), int(b)] for a, b in meta.get("skeleton_links", ())],
        }

    def image(self, path: Path, img: np.ndarray, people: Sequence[PoseInstance]) -> list[Path]:
        """The record (and drawing) of one image ``(H, W, 3)``."""
        record = {"image": str(path), "width": img.shape[1], "height": img.shape[0], **self.header()}
        record["instances"] = [p.to_json() for p in people]
        written = [write_json(self.out / "predictions" / f"{path.stem}.json", record)]
        if self.draw:
            target = self.out / "vis" / path.name
            ok, data = cv2.imencode(target.suffix or ".jpg", self.serving.draw(img, people, self.kpt_thr))
            if not ok:
                raise DataError(f"{target}: cannot encode the drawn image as {target.suffix!r}")
            data.tofile(target)
            written.append(target)
        return written

    def video(self, path: Path, fps: float, size: tuple[int, int]) -> VideoRecord:
        """A record that collects a video's frames (use as a context manager)."""
        return VideoRecord(self, path, fps, size)

    def sequence(self, path: Path, image_size: tuple[int, int], frames: Sequence[Sequence[PoseInstance]]) -> list[Path]:
        """The record (and per-frame drawings) of a lifted keypoint sequence."""
        record = {
            "source": str(path),
            "width": image_size[0],
            "height": image_size[1],
            **self.header(),
            "keypoints_3d": True,
            "frames": [{"frame_index": i, "instances": [p.to_json() for p in ps]} for i, ps in enumerate(frames)],
        }
        written = [write_json(self.out / "predictions" / f"{path.stem}_3d.json", record)]
        if self.draw:
            folder = self.out / "vis" / f"{path.stem}_3d"
            folder.mkdir(parents=True, exist_ok=True)
            for i, people in enumerate(frames):
                target = folder / f"frame_{i:06d}.png"
                cv2.imwrite(str(target), self.serving.draw(None, people, self.kpt_thr, title=f"frame {i}"))
                written.append(target)
        return written


class VideoRecord:
    """One video's predictions, frame by frame; the drawn video is written as frames arrive."""

    def __init__(self, writer: ResultWriter, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.writer, self.path, self.fps, self.size = writer, path, fps, size
        self.frames: list[dict[str, Any]] = []
        self.drawn = writer.out / "vis" / f"{path.stem}.mp4"
        self.video = open_video_writer(self.drawn, fps, size) if writer.draw else None

    def __enter__(self) -> VideoRecord:
        return self

    def add(self, index: int, frame: np.ndarray, people: Sequence[PoseInstance]) -> None:
        """Record frame ``index`` and draw it."""
        self.frames.append({"frame_index": index, "instances": [p.to_json() for p in people]})
        if self.video is not None:
            self.video.write(self.writer.serving.draw(frame, people, self.writer.kpt_thr))

    def __exit__(self, *exc: object) -> None:
        if self.video is not None:
            self.video.release()

    def finish(self) -> list[Path]:
        """Write the JSON record; returns the files written."""
        record = {
            "video": str(self.path),
            "fps": self.fps,
            "width": self.size[0],
            "height": self.size[1],
            **self.writer.header(),
            "frames": self.frames,
        }
        written = [write_json(self.writer.out / "predictions" / f"{self.path.stem}.json", record)]
        return [*written, self.drawn] if self.video is not None else written
