"""Layer bricks for plugins (a small, typed ``mmcv.cnn``): configs, builders, blocks, head trunks, freezing,
loss bases, init, checkpoints, windowed attention, stochastic depth and mmcv's DETR attention / FFN.

Module names are mmcv/MMPose's, so MMPose checkpoints load unchanged.
"""

from posekit.nn.attention import DropPath, WindowMSA, drop_path
from posekit.nn.backbone import FrozenStagesMixin, batchnorms_eval, freeze, init_backbone, run_stages
from posekit.nn.bricks import (
    ConvModule,
    DepthwiseSeparableConvModule,
    NamedNorms,
    add_conv_norm,
    build_activation_layer,
    build_norm_layer,
    norm_abbr,
)
from posekit.nn.checkpoint import (
    LoadResult,
    extract_state_dict,
    load_checkpoint,
    load_model_checkpoint,
    load_pretrained,
    load_state_dict,
    read_checkpoint,
)
from posekit.nn.configs import ActConfig, FinalLayerConfig, NormConfig, PretrainedInit, as_config
from posekit.nn.fuse import fuse_conv_bn, optimize_for_inference
from posekit.nn.init import (
    apply_init_cfg,
    constant_init,
    init_linears_and_norms,
    is_norm,
    kaiming_init,
    normal_init,
)
from posekit.nn.losses import WeightedKeypointLoss, expand_target_weight
from posekit.nn.resblocks import BasicBlock, Bottleneck, conv_norm, get_expansion, zero_init_last_norms
from posekit.nn.transformer import (
    FFN,
    AttnConfig,
    ChannelScale,
    FFNConfig,
    GatedAttentionUnit,
    MultiheadAttention,
    ScaleNorm,
)
from posekit.nn.trunks import (
    HeatmapTrunk,
    conv_layers,
    deconv_layers,
    final_conv,
    heatmap_layers,
    init_heatmap_layers,
    trunk_map_size,
    trunk_maps,
)
from posekit.nn.units import SELayer, ShuffleUnit, cat_shuffle, channel_shuffle, run_block

__all__ = [
    "FFN",
    "ActConfig",
    "AttnConfig",
    "BasicBlock",
    "Bottleneck",
    "ChannelScale",
    "ConvModule",
    "DepthwiseSeparableConvModule",
    "DropPath",
    "FFNConfig",
    "FinalLayerConfig",
    "FrozenStagesMixin",
    "GatedAttentionUnit",
    "HeatmapTrunk",
    "LoadResult",
    "MultiheadAttention",
    "NamedNorms",
    "NormConfig",
    "PretrainedInit",
    "SELayer",
    "ScaleNorm",
    "ShuffleUnit",
    "WeightedKeypointLoss",
    "WindowMSA",
    "add_conv_norm",
    "apply_init_cfg",
    "as_config",
    "batchnorms_eval",
    "build_activation_layer",
    "build_norm_layer",
    "cat_shuffle",
    "channel_shuffle",
    "constant_init",
    "conv_layers",
    "conv_norm",
    "deconv_layers",
    "drop_path",
    "expand_target_weight",
    "extract_state_dict",
    "final_conv",
    "freeze",
    "fuse_conv_bn",
    "get_expansion",
    "heatmap_layers",
    "init_backbone",
    "init_heatmap_layers",
    "init_linears_and_norms",
    "is_norm",
    "kaiming_init",
    "load_checkpoint",
    "load_model_checkpoint",
    "load_pretrained",
    "load_state_dict",
    "norm_abbr",
    "normal_init",
    "optimize_for_inference",
    "read_checkpoint",
    "run_block",
    "run_stages",
    "trunk_map_size",
    "trunk_maps",
    "zero_init_last_norms",
]
