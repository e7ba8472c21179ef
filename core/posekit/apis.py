"""MMPose's inference API: ``init_model``, ``inference_topdown``, ``inference_bottomup``."""

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
    """The estimator in eval mode with its weights, ``dataset_meta`` and ``cfg`` (None for a bare model dict).

    The keypoint definition comes from the checkpoint's ``meta["dataset_meta"]`` as in MMPose, else the
    experiment's or estimator's ``metainfo``, else COCO; a head of another keypoint count is refused.

    Args:
        config: an experiment (file, mapping, Experiment), a bare model dict (MMPose's included:
            ``_scope_`` ignored, ``SyncBN`` built as BatchNorm), or a ``posekit.config_formats`` file.
        checkpoint: an MMPose or posekit checkpoint (``.pth``, ``.safetensors``, URL); None: initial weights.
        optimize: where the serving allows it, :func:`posekit.nn.optimize_for_inference`, then the first
            ``optimize_model`` hook's rewrite (posekit-onnx's: the backbone and neck as onnxruntime graphs, else
            frozen TorchScript traces; without one the extractor runs eager); ``False`` keeps the module as built.
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
    meta = load_model_checkpoint(model, ckpt, source=source) if ckpt is not None else {}
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
        from posekit.plugins import make_plugin_manager

        model = make_plugin_manager().hook.optimize_model(model=optimize_for_inference(model)) or model
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
    """One :class:`~posekit.inference.PoseInstance` per box of ``img`` (an ``(H, W, 3)`` uint8 BGR image or a
    file), all boxes in one batch: ``keypoints (K, 2)`` in image pixels, ``keypoint_scores (K,)``, ``bbox (4,)``.

    Args:
        bboxes: ``(N, 4)`` boxes (or ``(N, 5)`` with scores) in image pixels; None or empty: the whole image.
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
    """One :class:`~posekit.inference.PoseInstance` per person found in ``img`` (an ``(H, W, 3)`` uint8 BGR
    image or a file): ``keypoints (K, 2)`` in image pixels, ``bbox`` spanning them, ``bbox_score``."""
    from posekit.protocols.serving import ImageRequest

    serving = model.serving()
    if serving.request != "image":
        raise ConfigError(f"inference_bottomup: {type(model).__name__} serves {serving.request!r} requests, not images")
    image, path = _load_image(img)
    return next(serving.predict([ImageRequest(image, path)]))
