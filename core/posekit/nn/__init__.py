"""The core's model utilities: reading checkpoints into a model (the one reader used by resume, ``init_model``
and MMPose interop) and folding a model for inference. Layer bricks for plugins are the ``posekit-layers``
library's (``posekit_layers``).
"""

from posekit.nn.checkpoint import (
    LoadResult,
    extract_state_dict,
    load_checkpoint,
    load_model_checkpoint,
    load_state_dict,
    read_checkpoint,
)
from posekit.nn.fuse import fuse_conv_bn, optimize_for_inference

__all__ = [
    "LoadResult",
    "extract_state_dict",
    "fuse_conv_bn",
    "load_checkpoint",
    "load_model_checkpoint",
    "load_state_dict",
    "optimize_for_inference",
    "read_checkpoint",
]
