"""Layer bricks for plugins (a small, typed ``mmcv.cnn``): configs, builders, blocks, init, checkpoints.

Everything here keeps mmcv/MMPose's module names, so state_dict keys of models built from
these bricks equal MMPose's and its checkpoints load unchanged.
"""

from posekit.nn.bricks import (
    ConvModule,
    DepthwiseSeparableConvModule,
    batchnorms_eval,
    build_activation_layer,
    build_norm_layer,
    freeze,
    norm_abbr,
)
from posekit.nn.checkpoint import (
    LoadResult,
    extract_state_dict,
    load_checkpoint,
    load_pretrained,
    load_state_dict,
    read_checkpoint,
)
from posekit.nn.configs import ActConfig, FinalLayerConfig, NormConfig, PretrainedInit, as_config
from posekit.nn.fuse import fuse_conv_bn, optimize_for_inference
from posekit.nn.init import constant_init, is_norm, kaiming_init, normal_init
from posekit.nn.resblocks import BasicBlock, Bottleneck, conv_norm, get_expansion

__all__ = [
    "ActConfig",
    "BasicBlock",
    "Bottleneck",
    "ConvModule",
    "DepthwiseSeparableConvModule",
    "FinalLayerConfig",
    "LoadResult",
    "NormConfig",
    "PretrainedInit",
    "as_config",
    "batchnorms_eval",
    "build_activation_layer",
    "build_norm_layer",
    "constant_init",
    "conv_norm",
    "extract_state_dict",
    "freeze",
    "fuse_conv_bn",
    "get_expansion",
    "is_norm",
    "kaiming_init",
    "load_checkpoint",
    "load_pretrained",
    "load_state_dict",
    "norm_abbr",
    "normal_init",
    "optimize_for_inference",
    "read_checkpoint",
]
