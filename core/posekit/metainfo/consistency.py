"""A model's keypoint count against its keypoint definition: K must agree, or nothing runs.

A head declares which constructor argument holds K (the keypoints it predicts) with the class
attribute ``num_keypoints_arg``; when it declares none, the first of ``num_keypoints``,
``num_joints`` and ``out_channels`` in its signature is K. The same name is read from a config
(``model.head.out_channels``) and from a built head (``head.out_channels``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from posekit.errors import ConfigError

#: constructor arguments read as K when a head declares no ``num_keypoints_arg``
_K_ARGS = ("num_keypoints", "num_joints", "out_channels")


def keypoint_arg(head_cls: Any) -> str | None:
    """The name of ``head_cls``'s constructor argument that holds K (None: the head has no fixed K)."""
    declared = getattr(head_cls, "num_keypoints_arg", None)
    if isinstance(declared, str):
        return declared
    try:
        params = inspect.signature(head_cls).parameters
    except (TypeError, ValueError):
        return None
    return next((name for name in _K_ARGS if name in params), None)


def head_keypoints(model_cfg: Mapping[str, Any]) -> tuple[int, str] | None:
    """``(K, field path)`` the model config's head predicts, or None when it says none."""
    from posekit.errors import PosekitError
    from posekit.registry import get

    head = model_cfg.get("head")
    if not isinstance(head, Mapping) or "type" not in head:
        return None
    try:
        arg = keypoint_arg(get("head", str(head["type"])))
    except PosekitError:
        return None  # an unknown head is reported by the model's own validation
    value = head.get(arg) if arg is not None else None
    return (value, f"model.head.{arg}") if isinstance(value, int) and not isinstance(value, bool) else None


def check_keypoints(found: tuple[int, str] | None, num: int, flip_indices: Sequence[int], origin: str) -> None:
    """Refuse a head whose K differs from the definition's (or from its flip indices' length).

    Args:
        found: ``(K, where)`` of the head, or None (nothing to check).
        num: the definition's number of keypoints.
        flip_indices: the definition's flip indices (K,).
        origin: where the definition comes from, for the message (``metainfo 'coco'``).
    """
    if found is None:
        return
    k, where = found
    if k != num:
        raise ConfigError(
            f"the head predicts {k} keypoints ({where}) but the keypoint definition {origin} has {num}; "
            "name the definition that matches the model (metainfo: NAME; `posekit plugins` lists them)"
        )
    if len(flip_indices) != k:
        raise ConfigError(
            f"the head predicts {k} keypoints ({where}) but the flip indices of {origin} have "
            f"{len(flip_indices)} entries"
        )


def built_head_keypoints(model: Any) -> tuple[int, str] | None:
    """``(K, where)`` of a built estimator's head (``model.head.<arg>``), or None."""
    head = getattr(model, "head", None)
    arg = keypoint_arg(type(head)) if head is not None else None
    value = getattr(head, arg, None) if arg is not None else None
    return (value, f"model.head.{arg}") if isinstance(value, int) and not isinstance(value, bool) else None
