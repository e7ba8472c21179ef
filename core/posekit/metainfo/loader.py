"""Find a keypoint definition: a registered name, a YAML/JSON file, a mapping, or a model.

An entry point of ``posekit.metainfo`` may be a function returning a :class:`KeypointInfo`,
the path of a YAML/JSON file, a mapping, or a ``KeypointInfo``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posekit import registry
from posekit.errors import ConfigError, UnknownComponentError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from posekit.metainfo.schema import KeypointInfo

_SUFFIXES = (".yaml", ".yml", ".json")
_FIELDS = "dataset_name, keypoint_info, skeleton_info, joint_weights, sigmas"


class DefinitionFileNotFoundError(ConfigError, FileNotFoundError):
    """A keypoint definition file that does not exist."""


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            msg = f"unknown field (a keypoint definition has {_FIELDS}, paper_info, stats_info)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc}: {msg}" if loc else f"  {msg}")
    return "\n".join(lines)


def validate_metainfo(data: Mapping[str, Any], source: str) -> KeypointInfo:
    """Validate a definition mapping (a lone ``dataset_info`` key unwrapped); errors name ``source`` and the field."""
    from pydantic import ValidationError

    from posekit.metainfo.schema import KeypointInfo

    if set(data) == {"dataset_info"} and isinstance(data["dataset_info"], Mapping):
        data = data["dataset_info"]
    try:
        return KeypointInfo.model_validate(dict(data))
    except ValidationError as e:
        raise ConfigError(f"invalid keypoint definition {source}:\n{_format_errors(e)}") from e


def load_metainfo_file(path: str | os.PathLike[str]) -> KeypointInfo:
    """Read and validate a YAML or JSON definition file; a Python file is refused (posekit never executes configs)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".py":
        raise ConfigError(
            f"keypoint definition {path} is a Python file; posekit never executes config code. "
            f"Write its dataset_info as YAML or JSON (same keys: {_FIELDS}), or use a registered name: "
            f"{', '.join(registry.list_components('metainfo')['metainfo'])}"
        )
    if suffix not in _SUFFIXES:
        raise ConfigError(f"keypoint definition {path}: expected a {'/'.join(_SUFFIXES)} file")
    if not path.is_file():
        raise DefinitionFileNotFoundError(f"keypoint definition file {path} does not exist")
    from posekit.config.io import read_file  # the configs' parser: its errors, size and alias-bomb bounds

    return validate_metainfo(read_file(path), str(path))


def _resolve_object(obj: Any, source: str) -> KeypointInfo:
    from posekit.metainfo.schema import KeypointInfo

    if isinstance(obj, KeypointInfo):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return load_metainfo_file(obj)
    if isinstance(obj, Mapping):
        return validate_metainfo(obj, source)
    if callable(obj):
        return _resolve_object(obj(), source)
    raise ConfigError(
        f"keypoint definition {source} is a {type(obj).__name__}; expected a KeypointInfo, a mapping, "
        "a YAML/JSON file path, or a function returning one of these"
    )


def load_metainfo(name_or_path: str | os.PathLike[str] | Mapping[str, Any] | KeypointInfo) -> KeypointInfo:
    """The keypoint definition for a registered name, a YAML/JSON file, a mapping, or a model.

    A name may be ``dist-name:name``; MMPose's ``{"from_file": ".../coco.py"}`` resolves to the
    registered definition of that name (the Python file is never executed).
    """
    if isinstance(name_or_path, Mapping):
        if set(name_or_path) == {"from_file"}:
            path = Path(str(name_or_path["from_file"]))
            if path.suffix.lower() == ".py":
                return load_metainfo(path.stem)
            return load_metainfo_file(path)
        return validate_metainfo(name_or_path, "(mapping)")
    if isinstance(name_or_path, os.PathLike):
        return load_metainfo_file(name_or_path)
    if not isinstance(name_or_path, str):
        return _resolve_object(name_or_path, f"({type(name_or_path).__name__})")
    try:
        entry = registry.resolve("metainfo", name_or_path)
    except UnknownComponentError as e:
        if Path(name_or_path).suffix.lower() in (*_SUFFIXES, ".py") or "/" in name_or_path or os.sep in name_or_path:
            return load_metainfo_file(name_or_path)
        raise UnknownComponentError(f"{e} Or give the path of a YAML/JSON keypoint definition file.") from None
    source = f"{entry.name!r} (entry point {entry.value} of {entry.dist} {entry.version})"
    return _resolve_object(registry.get("metainfo", name_or_path), source)
