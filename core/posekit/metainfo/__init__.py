"""Keypoint definitions (MMPose's ``dataset_info``): names, skeleton, flip pairs, weights, sigmas.

Importing this package is cheap: pydantic and PyYAML load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posekit._lazy import lazy_attributes
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


__getattr__, __dir__ = lazy_attributes(__name__, dict.fromkeys(_LAZY, "posekit.metainfo.schema"))
