"""Keypoint definitions (MMPose's ``dataset_info``): names, skeleton, flip pairs, weights, sigmas.

``load_metainfo("coco")`` returns the validated :class:`KeypointInfo` of a registered
definition (entry-point group ``posekit.metainfo``) or of a user's YAML/JSON file.
Importing this package is cheap: pydantic and PyYAML load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from posekit.metainfo.loader import (
    DefinitionFileNotFoundError,
    load_metainfo,
    load_metainfo_file,
    validate_metainfo,
)

if TYPE_CHECKING:
    from posekit.metainfo.schema import KeypointInfo, KeypointSpec, LinkSpec, PaperInfo, StatsInfo

_LAZY = ("KeypointInfo", "KeypointSpec", "LinkSpec", "PaperInfo", "StatsInfo")

__all__ = [
    "DefinitionFileNotFoundError",
    "KeypointInfo",
    "KeypointSpec",
    "LinkSpec",
    "PaperInfo",
    "StatsInfo",
    "load_metainfo",
    "load_metainfo_file",
    "validate_metainfo",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module("posekit.metainfo.schema"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'posekit.metainfo' has no attribute {name!r}")
