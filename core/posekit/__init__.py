"""posekit: pose estimation with a small core and pip-installable plugins (``import posekit`` imports neither
torch nor any plugin; heavy names resolve on first access)."""

from __future__ import annotations

from posekit._lazy import lazy_attributes
from posekit.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DuplicateComponentError,
    PluginLoadError,
    PosekitError,
    UnknownComponentError,
)
from posekit.registry import build, list_components

__version__ = "0.1.0"

# name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "hookimpl": "posekit.hookspecs",
    "load_config": "posekit.config",
    "init_model": "posekit.apis",
    "inference_topdown": "posekit.apis",
    "inference_bottomup": "posekit.apis",
    "Inferencer": "posekit.inference",
    "Trainer": "posekit.engine",
}

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DuplicateComponentError",
    "PluginLoadError",
    "PosekitError",
    "UnknownComponentError",
    "__version__",
    "build",
    "list_components",
    *_LAZY,
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
