"""ViPNASHead: a HeatmapHead whose deconvolutions are grouped (ViPNAS, Xu et al. 2021).

Dimensions as :class:`~posekit_heatmap.heatmap_head.HeatmapHead`: feature ``(B, C, h, w)`` ->
heatmaps ``(B, K, h * 2**D, w * 2**D)`` for D deconv layers. State_dict keys are MMPose's
``ViPNASHead``'s (those of ``HeatmapHead``: ``deconv_layers``, ``conv_layers``, ``final_layer``).
"""

from __future__ import annotations

from posekit.errors import ConfigError
from posekit.nn import FinalLayerConfig, deconv_layers
from posekit.types import CodecConfig, LossConfig
from posekit_heatmap.heatmap_head import HeatmapHead


class ViPNASHead(HeatmapHead):
    """Heatmap head of `ViPNAS`_: grouped stride-2 deconvs, optional convs, a final conv to K heatmaps.

    Args:
        in_channels: channels of the last feature map.
        out_channels: K, the number of heatmaps.
        deconv_out_channels: channels of each deconv layer; None or empty: none. Default (144, 144, 144).
        deconv_kernel_sizes: kernel of each deconv layer (2, 3 or 4). Default (4, 4, 4).
        deconv_num_groups: groups of each deconv layer. Default (16, 16, 16).
        conv_out_channels: channels of each conv layer after the deconvs; None: none.
        conv_kernel_sizes: kernel of each conv layer; None: none.
        final_layer: the last conv (see :class:`FinalLayerConfig`); None: none.
        loss: loss config. Default ``KeypointMSELoss(use_target_weight=True)``.
        decoder: codec config used by ``predict``; None: no decoding.

    .. _`ViPNAS`: https://arxiv.org/abs/2105.10154
    """

    example_config = {
        "in_channels": 8,
        "out_channels": 17,
        "deconv_out_channels": (8,),
        "deconv_kernel_sizes": (4,),
        "deconv_num_groups": (4,),
        "decoder": {"type": "MSRAHeatmap", "input_size": (48, 64), "heatmap_size": (12, 16), "sigma": 2.0},
    }
    example_inputs = {"feat_shapes": [(8, 8, 6)]}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        deconv_out_channels: tuple[int, ...] | None = (144, 144, 144),
        deconv_kernel_sizes: tuple[int, ...] | None = (4, 4, 4),
        deconv_num_groups: tuple[int, ...] | None = (16, 16, 16),
        conv_out_channels: tuple[int, ...] | None = None,
        conv_kernel_sizes: tuple[int, ...] | None = None,
        final_layer: FinalLayerConfig | None = FinalLayerConfig(),
        loss: LossConfig | None = None,
        decoder: CodecConfig | None = None,
    ) -> None:
        if deconv_out_channels:
            for name, values in (
                ("deconv_kernel_sizes", deconv_kernel_sizes),
                ("deconv_num_groups", deconv_num_groups),
            ):
                if values is None or len(values) != len(deconv_out_channels):
                    raise ConfigError(
                        f"ViPNASHead: {name} {values} needs one entry per deconv_out_channels {deconv_out_channels}"
                    )
        after_deconv = deconv_out_channels[-1] if deconv_out_channels else in_channels
        super().__init__(
            after_deconv, out_channels, None, None, conv_out_channels, conv_kernel_sizes, final_layer, loss, decoder
        )
        self.in_channels = in_channels
        if deconv_out_channels:
            self.deconv_layers = deconv_layers(in_channels, deconv_out_channels, deconv_kernel_sizes, deconv_num_groups)
        self.init_weights()
