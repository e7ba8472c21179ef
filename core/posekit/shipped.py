"""Which shipped distribution provides a name the core's own commands and API lean on.

The core imports no plugin; where one of its commands or public functions needs a component a
shipped plugin registers (``posekit export``, ``posekit plugins --check``, a ``.onnx`` checkpoint,
``posekit data synth``'s default format), a missing plugin is reported by naming the distribution to install. Only
entry names live here (command, backend, synthesizer names), never a plugin's class.
"""

from __future__ import annotations

#: (kind, entry name) -> the shipped distribution that registers it; kind "command" is
#: the ``posekit.commands`` group, the others are registry kinds
PROVIDERS: dict[tuple[str, str], str] = {
    ("command", "export"): "posekit-onnx",
    ("command", "new-plugin"): "posekit-scaffold",
    ("command", "check"): "posekit-testing",
    ("backend", "onnx"): "posekit-onnx",
    ("synthesizer", "coco"): "posekit-synthetic",
}


def install_hint(kind: str, name: str) -> str:
    """`` It ships with DIST: pip install DIST.`` for a name a shipped plugin provides, else ``""``."""
    dist = PROVIDERS.get((kind, name))
    return f" It ships with {dist}: pip install {dist}." if dist else ""
