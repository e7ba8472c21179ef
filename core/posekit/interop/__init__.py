"""Interop at the edge: MMPose checkpoints load as they are; foreign model dicts are cleaned and checked."""

from posekit.interop.model_dict import check_components, clean_model_dict, missing_components, missing_message
from posekit.nn.checkpoint import load_model_checkpoint

__all__ = [
    "check_components",
    "clean_model_dict",
    "load_model_checkpoint",
    "missing_components",
    "missing_message",
]
