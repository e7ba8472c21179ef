"""Experiment pieces that test suites share: ImageNet normalization, MMPose's standard data pipelines, MMPose's
configs found by what they name and converted to checked posekit YAML."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from posekit_testing.conformance import shared_dir

__all__ = [
    "IMAGENET_PREPROCESSOR",
    "bottomup_pipeline",
    "convert_and_check",
    "heatmap_model",
    "mmpose_configs",
    "topdown_pipeline",
]

#: the data preprocessor of MMPose's configs: ImageNet mean / std (0-255), BGR images to RGB
IMAGENET_PREPROCESSOR: dict[str, Any] = {
    "type": "PoseDataPreprocessor",
    "mean": [123.675, 116.28, 103.53],
    "std": [58.395, 57.12, 57.375],
    "bgr_to_rgb": True,
}


def topdown_pipeline(
    input_size: tuple[int, int] = (64, 64),
    codec: Mapping[str, Any] | None = None,
    augment: bool = False,
    half_body: bool = False,
) -> list[dict[str, Any]]:
    """``LoadImage``, ``GetBBoxCenterScale``, [``RandomFlip``, [``RandomHalfBody``], ``RandomBBoxTransform``],
    ``TopdownAffine``, [``GenerateTarget``], ``PackPoseInputs``.

    Args:
        input_size: the crops' ``(w, h)``.
        codec: the targets' codec config; None: no ``GenerateTarget`` (a test pipeline).
        augment: add the random flip and box jitter (a training pipeline).
        half_body: with ``augment``, also the random half-body crop (MMPose's COCO training pipeline).
    """
    steps: list[dict[str, Any]] = [{"type": "LoadImage"}, {"type": "GetBBoxCenterScale"}]
    if augment:
        steps.append({"type": "RandomFlip", "direction": "horizontal"})
        steps += [{"type": "RandomHalfBody"}] if half_body else []
        steps.append({"type": "RandomBBoxTransform"})
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


def mmpose_configs(*needles: str, under: str = "") -> list[Path]:
    """MMPose's configs under ``shared/mmpose-configs/<under>`` whose text holds any of ``needles`` (every one
    when none is given), sorted; empty when ``shared/`` is absent (a suite's count check then says so)."""
    shared = shared_dir()
    if shared is None:
        return []
    paths = sorted((shared / "mmpose-configs" / under).rglob("*.py"))
    return [p for p in paths if not needles or any(n in p.read_text() for n in needles)]


def convert_and_check(source: Path, out_dir: Path, *flags: str, estimator: str = "TopdownPoseEstimator") -> Path:
    """Converts the MMPose config ``source`` with ``posekit convert mmpose-config [flags]`` into
    ``out_dir/<stem>.yaml``, checks it with ``posekit config check`` (which must report ``estimator``) and
    returns the YAML's path. What the converter prints stays on the caller's stdout/stderr."""
    from posekit.cli import main

    out = out_dir / f"{source.stem}.yaml"
    assert main(["convert", "mmpose-config", str(source), "-o", str(out), *flags]) == 0, f"{source}: convert failed"
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        code = main(["config", "check", str(out)])
    assert code == 0 and f"ok ({estimator})" in report.getvalue(), f"{out}: config check said {report.getvalue()!r}"
    return out
