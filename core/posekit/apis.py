"""MMPose's inference API: ``init_model``, ``inference_topdown``, ``inference_bottomup``.

``init_model`` takes a posekit experiment (file, mapping or :class:`~posekit.config.Experiment`)
or a bare model dict — MMPose's own included (``_scope_`` keys ignored, ``SyncBN`` built as
BatchNorm on one process) — and loads an MMPose checkpoint unchanged. The keypoint definition
(flip indices, names, skeleton) comes from the checkpoint's ``meta["dataset_meta"]`` as in MMPose,
else from the experiment's or estimator's ``metainfo``, else COCO; a head whose keypoint count
differs from the definition's is refused, naming both numbers and where each came from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from posekit.errors import ConfigError

if TYPE_CHECKING:
    from posekit.config import Experiment
    from posekit.inference.results import PoseInstance


def read_model_config(config: Any) -> tuple[dict[str, Any], Experiment | None]:
    """``(model dict, experiment or None)`` of any config :func:`init_model` accepts."""
    from posekit.config import Experiment, load_config, read_file, validate_experiment

    if isinstance(config, Experiment):
        return dict(config.model), config
    if isinstance(config, (str, os.PathLike)):
        # another tool's format (an MMPose .py) is read by its plugin; only the model must convert
        raw = read_file(config, partial=True)
        if "model" not in raw and "type" in raw:
            return raw, None
        experiment = validate_experiment(raw, str(config))
        return dict(experiment.model), experiment
    if isinstance(config, Mapping):
        if "model" not in config and "type" in config:
            return dict(config), None
        experiment = load_config(config)
        return dict(experiment.model), experiment
    raise ConfigError(
        f"config must be an experiment (file path, mapping or Experiment) or a model dict, got {type(config).__name__}"
    )


def _revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``SyncBatchNorm`` by a ``BatchNorm2d`` with the same state (as mmengine does)."""
    if isinstance(module, nn.SyncBatchNorm):
        bn = nn.BatchNorm2d(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        bn.load_state_dict(module.state_dict())
        return bn
    for name, child in module.named_children():
        setattr(module, name, _revert_sync_batchnorm(child))
    return module


def init_model(
    config: str | os.PathLike[str] | Mapping[str, Any] | Experiment,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    optimize: bool = True,
) -> nn.Module:
    """Build a pose estimator for inference and load its weights; optimized for inference by default.

    Args:
        config: a posekit experiment (YAML/TOML/JSON file, mapping or Experiment), a bare model
            dict (MMPose's included), or a file a ``posekit.config_formats`` plugin reads (an
            MMPose ``.py`` config with posekit-mmpose installed).
        checkpoint: an MMPose or posekit checkpoint (``.pth``, ``.safetensors``, URL); None keeps
            the initial weights.
        device: where the model runs, e.g. ``"cpu"`` or ``"cuda:0"``.
        optimize: BatchNorm folded into the convolutions, channels_last weights and the backbone
            and neck run as one graph per input shape (onnxruntime where installed, else a
            frozen TorchScript trace)
            (:func:`posekit.nn.optimize_for_inference` with ``freeze``) where the paradigm's serving
            allows it; outputs equal the unmodified model's to float rounding. ``False`` keeps the
            module as built (to train it further, or to read its state dict by MMPose's keys).

    Returns:
        the estimator in eval mode, with ``dataset_meta`` (MMPose's keypoint-definition dict)
        and ``cfg`` (the experiment, or None for a bare model dict).
    """
    from posekit.interop.model_dict import check_components, clean_model_dict
    from posekit.metainfo.consistency import built_head_keypoints, check_keypoints
    from posekit.nn.checkpoint import load_model_checkpoint, read_checkpoint, require_distributions
    from posekit.registry import build

    source = f"checkpoint {os.fspath(checkpoint)!r}" if checkpoint is not None else ""
    ckpt = read_checkpoint(checkpoint) if checkpoint is not None else None
    if ckpt is not None:  # before building: a missing plugin is named with its distribution
        require_distributions(ckpt, source)
    model_cfg, experiment = read_model_config(config)
    model_cfg = clean_model_dict(model_cfg, drop_pretrained=True)
    check_components(model_cfg, "model config")
    model = _revert_sync_batchnorm(build("estimator", model_cfg, where="model"))
    meta: dict[str, Any] = {}
    if ckpt is not None:
        meta = load_model_checkpoint(model, ckpt, source=source)
    dataset_meta = meta.get("dataset_meta")
    found = built_head_keypoints(model)
    if isinstance(dataset_meta, Mapping):
        origin = f"{dataset_meta.get('dataset_name')!r} (the checkpoint's meta.dataset_meta)"
    else:
        from posekit.metainfo import load_metainfo

        named = [(model.metainfo, "model.metainfo", None)] if getattr(model, "metainfo", None) else []
        named += experiment.definitions() if experiment is not None else []
        name, where, split = named[0] if named else ("coco", "the default: nothing names a keypoint definition", None)
        origin = f"{name!r} ({where})"
        dataset_meta = load_metainfo(name).to_dataset_meta()
        if split in ("val", "test") and experiment is not None:
            found = experiment.keypoints_for(split)  # a test-time definition: the output keypoints count
    flip_indices = dataset_meta.get("flip_indices", ())
    num = dataset_meta.get("num_keypoints", len(flip_indices))
    check_keypoints(found, num, flip_indices, origin)
    model.dataset_meta = dict(dataset_meta)
    model.cfg = experiment
    model = model.to(device).eval()
    if optimize and _serving_optimizable(model):
        from posekit.nn.fuse import optimize_for_inference

        optimize_for_inference(model, freeze=True)
    return model


def _serving_optimizable(model: nn.Module) -> bool:
    """Whether the model's serving contract allows the inference rewrites (False where it cannot serve)."""
    from posekit.errors import ContractError

    try:
        return bool(model.serving().optimizable)
    except (ContractError, ConfigError, AttributeError):  # no serving(), or no codec to serve with
        return False


def _load_image(img: np.ndarray | str | os.PathLike[str]) -> tuple[np.ndarray, str]:
    """``(image (H, W, 3) uint8 BGR, path or '')``; errors name the file."""
    from posekit.inference.sources import read_image

    if isinstance(img, np.ndarray):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"img: expected an (H, W, 3) uint8 BGR image, got {img.dtype} array of shape {img.shape}")
        return img, ""
    return read_image(Path(img)), os.fspath(img)


def inference_topdown(
    model: nn.Module,
    img: np.ndarray | str | os.PathLike[str],
    bboxes: Any = None,
    bbox_format: Literal["xyxy", "xywh"] = "xyxy",
) -> list[PoseInstance]:
    """Top-down inference of one image: all boxes in one batch, one result per box.

    Args:
        model: a top-down estimator from :func:`init_model`.
        img: an ``(H, W, 3)`` uint8 BGR image or an image file.
        bboxes: ``(N, 4)`` boxes (or ``(N, 5)`` with scores) in image pixels; None or empty:
            the whole image.
        bbox_format: ``xyxy`` (default) or ``xywh``.

    Returns:
        one :class:`~posekit.inference.PoseInstance` per box: ``keypoints (K, 2)`` in image
        pixels, ``keypoint_scores (K,)``, ``bbox (4,)`` xyxy.
    """
    from posekit.inference.validate import as_bboxes
    from posekit.protocols.serving import ImageRequest

    serving = model.serving()
    if serving.request != "image+boxes":
        raise ConfigError(f"inference_topdown: {type(model).__name__} serves {serving.request!r} requests, not boxes")
    image, path = _load_image(img)
    boxes, scores = as_bboxes(bboxes, image.shape[:2], bbox_format)
    serving.batch_size = len(boxes)  # every box in one forward
    return next(serving.predict([ImageRequest(image, path, boxes=np.concatenate([boxes, scores[:, None]], axis=1))]))


def inference_bottomup(model: nn.Module, img: np.ndarray | str | os.PathLike[str]) -> list[PoseInstance]:
    """Bottom-up inference of one image: one result per person found.

    Args:
        model: a bottom-up estimator from :func:`init_model`.
        img: an ``(H, W, 3)`` uint8 BGR image or an image file.

    Returns:
        one :class:`~posekit.inference.PoseInstance` per person: ``keypoints (K, 2)`` in image
        pixels, ``keypoint_scores (K,)``, ``bbox`` spanning the keypoints, ``bbox_score`` the
        instance score.
    """
    from posekit.protocols.serving import ImageRequest

    serving = model.serving()
    if serving.request != "image":
        raise ConfigError(f"inference_bottomup: {type(model).__name__} serves {serving.request!r} requests, not images")
    image, path = _load_image(img)
    return next(serving.predict([ImageRequest(image, path)]))
