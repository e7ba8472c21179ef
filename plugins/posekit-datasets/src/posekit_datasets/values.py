"""Numbers read from annotations, with errors that name the file and the annotation."""

from __future__ import annotations

from typing import Any

import numpy as np

from posekit.errors import DataError

#: MMPose's box scale unit for center/scale annotations (MPII, WFLW): ``scale * 200`` pixels
PIXEL_STD = 200.0


def number_array(value: Any, what: str, where: str) -> np.ndarray:
    """``value`` as a finite float32 array; errors name ``where`` (file and annotation)."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: {what} must be numbers, got {value!r:.80}") from e
    if not np.isfinite(array).all():
        raise DataError(f"{where}: {what} holds NaN, null or infinite values")
    return array
