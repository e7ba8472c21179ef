"""Input checks shared by the codecs: numeric arrays of a given shape."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_array(name: str, value: object, shape: Sequence[int | str]) -> np.ndarray:
    """Return ``value`` when it is a numeric ndarray of ``shape``, else raise ``ValueError`` naming ``name``.

    A ``str`` entry of ``shape`` (a dimension's name such as ``"K"``) matches any size.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.ndim == len(shape):
        for want, got in zip(shape, value.shape, strict=True):
            if want != got and not isinstance(want, str):
                break
        else:
            return value
    expected = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    if isinstance(value, np.ndarray):
        got = f"an array of shape {value.shape} and dtype {value.dtype}"
    else:
        got = f"a {type(value).__name__}"
    raise ValueError(f"{name}: expected a numeric array of shape {expected}, got {got}")


def check_keypoints(keypoints: object, keypoints_visible: object | None, instances: int | str = "N") -> np.ndarray:
    """Check ``keypoints (N, K, 2)`` and ``keypoints_visible (N, K)``; return the visibilities (ones when None).

    ``instances`` fixes N (e.g. 1), or is a name that matches any size.
    """
    keypoints = check_array("keypoints", keypoints, (instances, "K", 2))
    if keypoints_visible is None:
        return np.ones(keypoints.shape[:2], dtype=np.float32)
    return check_array("keypoints_visible", keypoints_visible, keypoints.shape[:2])
