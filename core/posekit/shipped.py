"""Which shipped distribution provides an entry name (or a kind's MMPose names) the core's commands and API
lean on (never a class)."""

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
#: kind -> the shipped distribution that registers MMEngine's and MMPose's names of it beyond the core's
KIND_PROVIDERS: dict[str, str] = {"lr_phase": "posekit-mmpose", "optim_constructor": "posekit-mmpose"}


def install_hint(kind: str, name: str) -> str:
    """`` It ships with DIST: pip install DIST.`` for a name a shipped plugin provides (or, for a kind of
    :data:`KIND_PROVIDERS`, its distribution when not installed), else ``""``."""
    from importlib.metadata import PackageNotFoundError, distribution

    dist = PROVIDERS.get((kind, name))
    if dist:
        return f" It ships with {dist}: pip install {dist}."
    dist = KIND_PROVIDERS.get(kind)
    if dist is None:
        return ""
    try:
        distribution(dist)
    except PackageNotFoundError:
        return f" MMEngine's and MMPose's {kind} names ship with {dist}: pip install {dist}."
    return ""
