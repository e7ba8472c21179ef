"""Layer bricks for plugins (a small, typed ``mmcv.cnn``): configs, builders, blocks, head trunks, backbone
freezing, loss bases, init (``init_cfg``, ``Pretrained``), windowed attention, stochastic depth and mmcv's DETR
attention / FFN.

A library, not a plugin: it registers no component, so families import it as they import the core. Module and
parameter names are mmcv/MMPose's, so MMPose checkpoints load unchanged. Checkpoint reading and inference fusing
are the core's (:mod:`posekit.nn`).
"""

from posekit_layers.attention import DropPath, WindowMSA, drop_path
from posekit_layers.backbone import FrozenStagesMixin, batchnorms_eval, freeze, init_backbone, run_stages
from posekit_layers.bricks import (
    ConvModule,
    DepthwiseSeparableConvModule,
    NamedNorms,
    add_conv_norm,
    build_activation_layer,
    build_norm_layer,
    norm_abbr,
)
from posekit_layers.configs import ActConfig, FinalLayerConfig, NormConfig, PretrainedInit, as_config
from posekit_layers.init import (
    apply_init_cfg,
    constant_init,
    init_linears_and_norms,
    is_norm,
    kaiming_init,
    load_pretrained,
    normal_init,
)
from posekit_layers.losses import WeightedKeypointLoss, expand_target_weight
from posekit_layers.resblocks import BasicBlock, Bottleneck, conv_norm, get_expansion, zero_init_last_norms
from posekit_layers.transformer import (
    FFN,
    AttnConfig,
    ChannelScale,
    FFNConfig,
    GatedAttentionUnit,
    MultiheadAttention,
    ScaleNorm,
)
from posekit_layers.trunks import (
    HeatmapTrunk,
    conv_layers,
    deconv_layers,
    final_conv,
    heatmap_layers,
    init_heatmap_layers,
    trunk_map_size,
    trunk_maps,
)
from posekit_layers.units import SELayer, ShuffleUnit, cat_shuffle, channel_shuffle, run_block

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
    "final_conv",
    "freeze",
    "get_expansion",
    "heatmap_layers",
    "init_backbone",
    "init_heatmap_layers",
    "init_linears_and_norms",
    "is_norm",
    "kaiming_init",
    "load_pretrained",
    "norm_abbr",
    "normal_init",
    "run_block",
    "run_stages",
    "trunk_map_size",
    "trunk_maps",
    "zero_init_last_norms",
]
