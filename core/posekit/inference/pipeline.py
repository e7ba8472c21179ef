"""What serving needs to know about a model: its keypoint definition, codec and experiment pipeline."""

from __future__ import annotations

from typing import Any

from torch import nn

from posekit.errors import ConfigError


def dataset_meta(model: nn.Module) -> dict[str, Any]:
    """The model's MMPose ``dataset_meta``: ``model.dataset_meta``, else its ``metainfo``'s, else COCO's."""
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
    """The head's codec (``model.head.codec``, by default its ``decoder``); error when the model has none."""
    head = getattr(model, "head", None)
    codec = getattr(head, "codec", getattr(head, "decoder", None))
    if codec is None:
        raise ConfigError(f"{type(model).__name__} has no head.decoder: inference needs the head's codec to decode")
    return codec


def codec_input_size(codec: Any) -> tuple[int, int]:
    """``(w, h)`` model input size the codec declares (``codec.input_size``)."""
    size = getattr(codec, "input_size", None)
    if size is None:
        raise ConfigError(f"codec {type(codec).__name__} declares no input_size: a test pipeline needs it")
    w, h = (int(v) for v in tuple(size)[:2])
    return w, h


def model_input_size(model: nn.Module) -> tuple[int, int]:
    """``(w, h)`` the model is served at: ``test_cfg.input_size`` where set (heads that find people themselves,
    as RTMO, whose MMPose configs give the head no codec), else its codec's."""
    size = getattr(getattr(model, "test_cfg", None), "input_size", None)
    if size is None:
        return codec_input_size(codec_of(model))
    w, h = (int(v) for v in tuple(size)[:2])
    return w, h


def experiment_pipeline(model: nn.Module) -> list[dict[str, Any]] | None:
    """The experiment's test (else val) pipeline without train-only transforms; None without an experiment."""
    from posekit.registry import get

    cfg = getattr(model, "cfg", None)
    data = getattr(cfg, "data", None)
    for split in (getattr(data, "test", None), getattr(data, "val", None)):
        pipeline = (split.dataset or {}).get("pipeline") if split is not None else None
        if pipeline:
            return [dict(t) for t in pipeline if not getattr(get("transform", t["type"]), "train_only", False)]
    return None
