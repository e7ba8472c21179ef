"""What inference needs to know about a model: its keypoint definition, codec and test pipeline.

The test pipeline is the experiment's ``data.test`` (else ``data.val``) dataset pipeline when
the model was built from an experiment, otherwise MMPose's default for the paradigm:

- top-down: ``LoadImage, GetBBoxCenterScale(padding=1.25), TopdownAffine(input_size, use_udp),
  PackPoseInputs`` with the codec's ``input_size`` (``use_udp`` for ``UDPHeatmap``);
- bottom-up: ``LoadImage, BottomupResize(input_size, size_factor=32, resize_mode='expand'),
  PackPoseInputs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from posekit.errors import ConfigError

#: transforms that need annotations or randomness and are skipped at inference
_TRAIN_ONLY = frozenset(
    {
        "GenerateTarget",
        "RandomFlip",
        "RandomHalfBody",
        "RandomBBoxTransform",
        "BottomupRandomAffine",
        "BottomupGetHeatmapMask",
        "PhotometricDistortion",
        "RandomFlipAroundRoot",
    }
)


def paradigm(model: nn.Module) -> str:
    """``topdown``, ``bottomup`` or ``lifting`` for a posekit estimator."""
    from posekit.estimators.bottomup import BottomupPoseEstimator
    from posekit.estimators.pose_lifter import PoseLifter
    from posekit.estimators.topdown import TopdownPoseEstimator

    for cls, name in ((TopdownPoseEstimator, "topdown"), (BottomupPoseEstimator, "bottomup"), (PoseLifter, "lifting")):
        if isinstance(model, cls):
            return name
    raise ConfigError(
        f"inference supports TopdownPoseEstimator, BottomupPoseEstimator and PoseLifter (or subclasses); "
        f"got {type(model).__name__}"
    )


def dataset_meta(model: nn.Module) -> dict[str, Any]:
    """The model's keypoint definition as MMPose's ``dataset_meta`` dict.

    From ``model.dataset_meta`` (set by :func:`posekit.init_model` from the checkpoint's
    ``meta``), else the estimator's ``metainfo`` name, else COCO (as MMPose defaults).
    """
    meta = getattr(model, "dataset_meta", None)
    if meta:
        return meta
    from posekit.metainfo import load_metainfo

    meta = load_metainfo(getattr(model, "metainfo", None) or "coco").to_dataset_meta()
    model.dataset_meta = meta
    return meta


def keypoint_names(meta: dict[str, Any]) -> list[str]:
    """``(K,)`` keypoint names of a ``dataset_meta`` dict, in id order."""
    id2name = meta.get("keypoint_id2name") or {}
    return [str(id2name[i]) for i in sorted(id2name, key=int)]


def codec_of(model: nn.Module) -> Any:
    """The head's codec (``model.head.decoder``); error when the model has none."""
    codec = getattr(getattr(model, "head", None), "decoder", None)
    if codec is None:
        raise ConfigError(f"{type(model).__name__} has no head.decoder: inference needs the head's codec to decode")
    return codec


def _experiment_pipeline(model: nn.Module) -> list[dict[str, Any]] | None:
    cfg = getattr(model, "cfg", None)
    data = getattr(cfg, "data", None)
    for split in (getattr(data, "test", None), getattr(data, "val", None)):
        pipeline = (split.dataset or {}).get("pipeline") if split is not None else None
        if pipeline:
            return [dict(t) for t in pipeline if t.get("type") not in _TRAIN_ONLY]
    return None


def test_pipeline(model: nn.Module) -> list[dict[str, Any]]:
    """The transform configs that turn a loaded image (plus boxes) into the model's input."""
    pipeline = _experiment_pipeline(model)
    if pipeline is not None:
        return pipeline
    kind = paradigm(model)
    codec = codec_of(model)
    input_size = tuple(int(v) for v in np.asarray(codec.input_size).reshape(-1)[:2])
    if kind == "topdown":
        return [
            {"type": "LoadImage"},
            {"type": "GetBBoxCenterScale", "padding": 1.25},
            {"type": "TopdownAffine", "input_size": input_size, "use_udp": type(codec).__name__ == "UDPHeatmap"},
            {"type": "PackPoseInputs"},
        ]
    if kind == "bottomup":
        return [
            {"type": "LoadImage"},
            {"type": "BottomupResize", "input_size": input_size, "size_factor": 32, "resize_mode": "expand"},
            {"type": "PackPoseInputs"},
        ]
    raise ConfigError("a pose lifter takes 2D keypoint sequences, not images")
