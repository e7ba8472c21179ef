"""A model's keypoint count against its keypoint definition: K must agree, or nothing runs.

K is the head argument named by ``num_keypoints_arg`` (else the first of ``num_keypoints``,
``num_joints``, ``out_channels``); a codec's ``definition_keypoints(outputs) -> K`` maps other counts
(UDP's 3 maps a keypoint, a lifter's K - 1 joints).
"""

from __future__ import annotations

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
    from posekit.registry import constructor_fields

    try:
        params = constructor_fields(head_cls)
    except (TypeError, ValueError):
        return None
    return next((name for name in _K_ARGS if name in params), None)


def head_keypoints(model_cfg: Mapping[str, Any]) -> tuple[int, str] | None:
    """``(K, field path)`` the model config's head predicts, or None when it says none."""
    from posekit.errors import PosekitError
    from posekit.registry import build, get

    head = model_cfg.get("head")
    if not isinstance(head, Mapping) or "type" not in head:
        return None
    try:
        arg = keypoint_arg(get("head", str(head["type"])))
    except PosekitError:
        return None  # an unknown head is reported by the model's own validation
    value = head.get(arg) if arg is not None else None
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    codec = None
    if isinstance(head.get("decoder"), Mapping):
        try:
            codec = build("codec", dict(head["decoder"]))
        except (PosekitError, TypeError, ValueError):
            pass  # a bad decoder is reported by the model's own validation
    return _through_codec(value, f"model.head.{arg}", codec)


def _through_codec(value: int, where: str, codec: Any) -> tuple[int, str]:
    """``(K of the definition, where)`` for a head with ``value`` outputs, mapped by its codec if it declares how."""
    convert = getattr(codec, "definition_keypoints", None)
    k = convert(value) if callable(convert) else value
    return (k, where) if k == value else (k, f"{where} = {value} outputs of {type(codec).__name__}")


def check_keypoints(found: tuple[int, str] | None, num: int, flip_indices: Sequence[int], origin: str) -> None:
    """Refuse a head whose K differs from the definition's (or from its flip indices' length).

    ``found`` is the head's ``(K, where)``, or None (nothing to check).
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
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return _through_codec(value, f"model.head.{arg}", getattr(head, "codec", getattr(head, "decoder", None)))


def dataset_default_metainfo(dataset: Mapping[str, Any]) -> str | None:
    """The definition a dataset config without ``metainfo`` uses: its type's ``default_metainfo(config)``
    (or ``METAINFO``); None when the type is unknown or declares none."""
    from posekit.errors import PosekitError
    from posekit.registry import get

    try:
        cls = get("dataset", str(dataset.get("type")))
    except PosekitError:
        return None
    name = cls.default_metainfo(dataset) if hasattr(cls, "default_metainfo") else getattr(cls, "METAINFO", None)
    return name if isinstance(name, str) else None
