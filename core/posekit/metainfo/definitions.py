"""The keypoint definitions that ship with posekit (entry-point group ``posekit.metainfo``).

Entry ``<name> = "posekit.metainfo.definitions:<name>"`` reads the YAML file ``<name>.yaml`` beside this
module (MMPose's ``configs/_base_/datasets/<name>.py`` as data), validated and kept on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from posekit.metainfo.loader import load_metainfo_file

if TYPE_CHECKING:
    from posekit.metainfo.schema import KeypointInfo

_HERE = Path(__file__).parent


@functools.cache
def _load(path: Path) -> KeypointInfo:
    return load_metainfo_file(path)


def __getattr__(name: str) -> Callable[[], KeypointInfo]:
    path = _HERE / f"{name}.yaml"
    if name.startswith("_") or not path.is_file():
        raise AttributeError(f"module {__name__!r} has no keypoint definition {name!r}")
    return functools.partial(_load, path)
