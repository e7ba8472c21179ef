"""``LoadImage``: decode the sample's image file with OpenCV (BGR, uint8)."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from posekit.errors import DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform

_FLAGS = {
    "color": cv2.IMREAD_COLOR,
    "color_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_COLOR,
    "grayscale": cv2.IMREAD_GRAYSCALE,
    "grayscale_ignore_orientation": cv2.IMREAD_IGNORE_ORIENTATION | cv2.IMREAD_GRAYSCALE,
    "unchanged": cv2.IMREAD_UNCHANGED,
}


class LoadImage(BaseTransform):
    """Load ``sample.img_path`` into ``sample.img`` (H, W, 3) uint8 BGR, or keep an image already set.

    Sets ``img_shape`` and ``ori_shape`` (h, w). A missing or undecodable file raises
    :class:`~posekit.errors.DataError` naming the file and the image id.

    Only the ``cv2`` decoder and local files (``backend_args`` None or ``{"backend": "local"}``).
    """

    def __init__(
        self,
        to_float32: bool = False,
        color_type: Literal[
            "color", "color_ignore_orientation", "grayscale", "grayscale_ignore_orientation", "unchanged"
        ] = "color",
        imdecode_backend: Literal["cv2"] = "cv2",
        backend_args: dict[str, str] | None = None,
    ) -> None:
        if backend_args is not None and backend_args.get("backend", "local") != "local":
            raise ValueError(f"LoadImage reads local files only; got backend_args={backend_args!r}")
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args
        self._flag = _FLAGS[color_type]

    def __call__(self, sample: PoseSample) -> PoseSample:
        img = sample.img
        if img is None:
            img = self._read(sample)
        elif not isinstance(img, np.ndarray):
            raise DataError(f"sample.img must be a numpy array, got {type(img).__name__} (image id {sample.img_id})")
        if self.to_float32:
            img = img.astype(np.float32)
        sample.img = img
        sample.img_shape = sample.ori_shape = (int(img.shape[0]), int(img.shape[1]))
        return sample

    def _read(self, sample: PoseSample) -> np.ndarray:
        path = sample.img_path
        if not path:
            raise DataError(f"sample has neither an image nor an img_path (image id {sample.img_id})")
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as e:
            raise DataError(f"cannot read image file {path!r} (image id {sample.img_id}): {e}") from e
        img = cv2.imdecode(data, self._flag) if data.size else None
        if img is None:
            raise DataError(
                f"cannot decode image file {path!r} (image id {sample.img_id}): "
                f"{'empty file' if data.size == 0 else 'not an image OpenCV can decode, or a corrupt one'}"
            )
        return img
