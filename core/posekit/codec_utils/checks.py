"""Input checks shared by the codecs: numeric arrays of a given shape.

Dimensions (N, K, [W, H], L) and keypoint spaces as in :mod:`posekit.codec_utils`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_array(name: str, value: object, shape: Sequence[int | str]) -> np.ndarray:
    """Return ``value`` when it is a numeric ndarray of ``shape``, else raise ``ValueError``.

    Args:
        name: the argument's name, used in the message.
        value: what the caller passed.
        shape: the expected shape; an ``int`` entry must match exactly, a ``str`` entry (a
            dimension's name such as ``"K"``) matches any size.
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
    """Check a codec's ``encode`` inputs; return the visibilities (all ones when None).

    Args:
        keypoints: ``(N, K, 2)`` (``instances`` fixes N, e.g. 1 for one instance per sample).
        keypoints_visible: ``(N, K)`` or None.
        instances: the expected N, or a name that matches any size. Default ``"N"``.
    """
    keypoints = check_array("keypoints", keypoints, (instances, "K", 2))
    if keypoints_visible is None:
        return np.ones(keypoints.shape[:2], dtype=np.float32)
    return check_array("keypoints_visible", keypoints_visible, keypoints.shape[:2])
