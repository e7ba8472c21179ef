"""MMPose's keypoint definitions (``configs/_base_/datasets/<name>.py``) as YAML files beside this module.

Each entry point ``posekit.metainfo: <name> = "posekit_mmpose.definitions:dataset_<name>"``
resolves to the path of ``<name>.yaml``, which posekit's loader reads and validates on first use.
Written by ``scripts/make_definitions.py``; the core ships the few it needs itself (coco, ...).
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).parent


def __getattr__(attr: str) -> Path:
    name = attr.removeprefix("dataset_")
    path = _HERE / f"{name}.yaml"
    if not attr.startswith("dataset_") or not path.is_file():
        raise AttributeError(f"module {__name__!r} has no keypoint definition {attr!r}")
    return path
