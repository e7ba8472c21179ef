"""Model dicts from elsewhere (an MMPose checkpoint's config, a JSON file): cleaned and checked before building."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from posekit.errors import ConfigError, UnknownComponentError

#: model-dict keys whose ``{"type": ...}`` value is a registered component, and its kind
COMPONENT_KEYS: dict[str, str] = {
    "backbone": "backbone",
    "neck": "neck",
    "head": "head",
    "decoder": "codec",
    "encoder": "codec",
    "data_preprocessor": "data_preprocessor",
}

#: OpenMMLab registry scopes an MMPose model dict may put before a type name (``mmpretrain.VisionTransformer``)
SCOPES = ("mmpose.", "mmdet.", "mmpretrain.", "mmcls.")


def clean_model_dict(model: Mapping[str, Any], drop_pretrained: bool = False) -> dict[str, Any]:
    """A plain copy of a model dict: ``_scope_`` keys dropped, :data:`SCOPES` dropped from type names, MMPose's
    own keypoint definition files (``metainfo='configs/_base_/datasets/coco.py'``) as their registered names,
    tuples as lists; ``drop_pretrained``: also ``init_cfg=dict(type='Pretrained', ...)`` (as ``init_model``)."""

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                str(k): _unscoped(v) if k == "type" else _definition(v) if k == "metainfo" else clean(v)
                for k, v in value.items()
                if k != "_scope_" and not (drop_pretrained and k == "init_cfg" and _is_pretrained(v))
            }
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return clean(model)


def _unscoped(name: Any) -> Any:
    """``mmpretrain.VisionTransformer`` -> ``VisionTransformer`` (MMPose resolves the scope; posekit has one)."""
    if isinstance(name, str) and name.startswith(SCOPES):
        return name.partition(".")[2]
    return name


def _definition(metainfo: Any) -> Any:
    """``configs/_base_/datasets/coco.py`` (MMPose's own definition) -> ``coco``; anything else as it is."""
    if isinstance(metainfo, str) and (found := re.search(r"(?:^|/)_base_/datasets/(\w+)\.py$", metainfo)):
        return found.group(1)
    return metainfo


def _is_pretrained(init_cfg: Any) -> bool:
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(c, Mapping) and c.get("type") == "Pretrained" for c in items)


def missing_components(model: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(kind, name, field path)`` of every component of ``model`` (estimator, backbone, neck, head, codecs,
    losses, data preprocessor) that no installed plugin registers."""
    from posekit.registry import resolve

    missing: list[tuple[str, str, str]] = []

    def check(kind: str, cfg: Mapping[str, Any], path: str) -> None:
        try:
            resolve(kind, str(cfg["type"]))
        except (UnknownComponentError, ConfigError):
            missing.append((kind, str(cfg["type"]), path))

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                sub = f"{path}.{key}"
                kind = COMPONENT_KEYS.get(str(key)) or ("loss" if "loss" in str(key) else None)
                if kind is not None and isinstance(value, Mapping) and "type" in value:
                    check(kind, value, sub)
                walk(value, sub)
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    check("estimator", model, "model")
    walk(model, "model")
    return missing


def check_components(model: Mapping[str, Any], source: str = "<config>") -> None:
    """Raise :class:`ConfigError` naming every component of ``model`` that posekit lacks, with its field path."""
    if "type" not in model:
        raise ConfigError(
            f"{source}: the model dict has no 'type' (expected an estimator name: `posekit plugins` lists them)"
        )
    missing = missing_components(model)
    if missing:
        raise ConfigError(missing_message(missing, source))


def missing_message(missing: list[tuple[str, str, str]], source: str) -> str:
    """The message naming each ``(kind, name, field path)`` of :func:`missing_components`."""
    lines = "\n".join(f"  {path}: {kind} {name!r}" for kind, name, path in missing)
    return (
        f"{source}: posekit has no component for:\n{lines}\n  Install the plugin that provides it "
        "(`posekit plugins` lists what is installed), or change the config."
    )
