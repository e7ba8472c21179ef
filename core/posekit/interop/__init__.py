"""MMPose interoperability: its checkpoints load as they are; its model configs convert to posekit's."""

from posekit.interop.mmpose_config import (
    check_components,
    clean_model_dict,
    convert_mmpose_config,
    read_mmpose_config,
    to_experiment,
)
from posekit.nn.checkpoint import load_model_checkpoint

__all__ = [
    "check_components",
    "clean_model_dict",
    "convert_mmpose_config",
    "load_model_checkpoint",
    "read_mmpose_config",
    "to_experiment",
]
