"""Experiment pieces that test suites share: ImageNet normalization, MMPose's standard data pipelines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the data preprocessor of MMPose's configs: ImageNet mean / std (0-255), BGR images to RGB
IMAGENET_PREPROCESSOR: dict[str, Any] = {
    "type": "PoseDataPreprocessor",
    "mean": [123.675, 116.28, 103.53],
    "std": [58.395, 57.12, 57.375],
    "bgr_to_rgb": True,
}


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


def heatmap_model(codec: Mapping[str, Any], **head: Any) -> dict[str, Any]:
    """A ``TopdownPoseEstimator`` dict as MMPose's SimpleBaseline configs: ImageNet normalization, ResNet-18 and a
    ``HeatmapHead`` of 17 keypoints (MSE loss with target weights, ``codec`` as decoder, ``head`` overriding its
    arguments), flip test with shifted heatmaps."""
    return {
        "type": "TopdownPoseEstimator",
        "data_preprocessor": IMAGENET_PREPROCESSOR,
        "backbone": {"type": "ResNet", "depth": 18},
        "head": {
            "type": "HeatmapHead",
            "in_channels": 512,
            "out_channels": 17,
            "loss": {"type": "KeypointMSELoss", "use_target_weight": True},
            "decoder": dict(codec),
            **head,
        },
        "test_cfg": {"flip_test": True, "shift_heatmap": True},
    }
