"""Experiment pieces that test suites share: MMPose's standard data pipelines, as config lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def topdown_pipeline(
    input_size: tuple[int, int] = (64, 64), codec: Mapping[str, Any] | None = None, augment: bool = False
) -> list[dict[str, Any]]:
    """``LoadImage``, ``GetBBoxCenterScale``, [``RandomFlip``, ``RandomBBoxTransform``], ``TopdownAffine``,
    [``GenerateTarget``], ``PackPoseInputs``.

    Args:
        input_size: the crops' ``(w, h)``.
        codec: the targets' codec config; None: no ``GenerateTarget`` (a test pipeline).
        augment: add the random flip and box jitter (a training pipeline).
    """
    steps: list[dict[str, Any]] = [{"type": "LoadImage"}, {"type": "GetBBoxCenterScale"}]
    if augment:
        steps += [{"type": "RandomFlip", "direction": "horizontal"}, {"type": "RandomBBoxTransform"}]
    steps.append({"type": "TopdownAffine", "input_size": list(input_size)})
    if codec is not None:
        steps.append({"type": "GenerateTarget", "encoder": dict(codec)})
    return [*steps, {"type": "PackPoseInputs"}]


def bottomup_pipeline(
    input_size: tuple[int, int] = (64, 64), codec: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Whole images: with ``codec``, training (``BottomupRandomAffine``, ``RandomFlip``, ``GenerateTarget``,
    ``BottomupGetHeatmapMask``); without, testing (``BottomupResize`` to ``input_size``, expanded to a multiple
    of 32). Both start with ``LoadImage`` and end with ``PackPoseInputs``.
    """
    if codec is None:
        resize = {"type": "BottomupResize", "input_size": list(input_size), "size_factor": 32, "resize_mode": "expand"}
        return [{"type": "LoadImage"}, resize, {"type": "PackPoseInputs"}]
    return [
        {"type": "LoadImage"},
        {"type": "BottomupRandomAffine", "input_size": list(input_size)},
        {"type": "RandomFlip", "direction": "horizontal"},
        {"type": "GenerateTarget", "encoder": dict(codec)},
        {"type": "BottomupGetHeatmapMask"},
        {"type": "PackPoseInputs"},
    ]
