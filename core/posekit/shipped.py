"""Which shipped distribution provides an entry name the core's commands and API lean on (never a class)."""

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
