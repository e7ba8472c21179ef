"""CSPNeXtPAFPN neck (RTMW), as MMPose's ``mmpose/models/necks/cspnext_pafpn.py``.

Input: ``L`` feature maps ``(B, C_i, H_i, W_i)``, each level half the size of the one before
(CSPNeXt's ``out_indices=(2, 3, 4)``). A top-down path (1x1 reduce, nearest upsample, concat, CSP
layer) then a bottom-up path (strided 3x3 conv, concat, CSP layer) give ``L`` maps with the
input's channels; with ``out_channels`` set, a 3x3 conv per level maps each to ``out_channels``.
Returns the maps at ``out_indices``. State_dict keys equal MMPose's (``reduce_layers.0.conv.weight``,
``top_down_blocks.0.blocks.0.conv2.depthwise_conv.conv.weight``, ``out_convs.1.bn.running_mean``).
"""

from __future__ import annotations

from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.nn import ActConfig, NormConfig
from posekit_cspnext._layers import CSP_BN, PAFPN, UpsampleConfig, conv_type


class CSPNeXtPAFPN(PAFPN):
    """Path aggregation network with CSPNeXt blocks (RTMDet's neck, RTMW's multi-scale fusion).

    Args:
        in_channels: channels of each input level, finest first.
        out_channels: channels of every output after a 3x3 conv per level; None keeps each level's
            input channels (RTMW). Default None.
        out_indices: which levels to return. Default (0, 1, 2).
        num_csp_blocks: CSPNeXt blocks per CSP layer. Default 3.
        use_depthwise: depthwise-separable strided and output convs. Default False.
        expand_ratio: CSP hidden channels / out channels. Default 0.5.
        upsample_cfg: the top-down upsampling. Default ``scale_factor=2, mode='nearest'``.
        norm_cfg: norm layer config. Default ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg: activation config. Default ``dict(type='Swish')``.
    """

    example_config = {"in_channels": (8, 16, 32), "out_indices": (1, 2), "num_csp_blocks": 1}
    example_inputs = {"feat_shapes": [(8, 16, 12), (16, 8, 6), (32, 4, 3)]}

    def __init__(
        self,
        in_channels: tuple[int, ...],
        out_channels: int | None = None,
        out_indices: tuple[int, ...] = (0, 1, 2),
        num_csp_blocks: int = 3,
        use_depthwise: bool = False,
        expand_ratio: float = 0.5,
        upsample_cfg: UpsampleConfig = UpsampleConfig(),
        norm_cfg: NormConfig = CSP_BN,
        act_cfg: ActConfig = ActConfig(type="Swish"),
    ) -> None:
        super().__init__()
        self.build_paths(
            in_channels,
            upsample_cfg,
            num_csp_blocks,
            use_depthwise,
            norm_cfg,
            act_cfg,
            expand_ratio=expand_ratio,
            cspnext=True,
        )
        levels = len(in_channels)
        if not out_indices or not all(0 <= i < levels for i in out_indices):
            raise ConfigError(f"CSPNeXtPAFPN: out_indices {tuple(out_indices)} must be levels in [0, {levels})")
        self.out_channels = out_channels
        self.out_indices = tuple(out_indices)
        if out_channels is not None:
            conv = conv_type(use_depthwise)
            self.out_convs = nn.ModuleList(
                conv(ch, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg) for ch in in_channels
            )
        self.init_weights()

    def forward(self, feats: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """``L`` maps ``(B, C_i, H_i, W_i)`` -> the ``out_indices`` levels, ``(B, out_channels or C_i, H_i, W_i)``."""
        outs = self.paths(feats)
        if self.out_channels is not None:
            outs = [out_conv(out) for out_conv, out in zip(self.out_convs, outs, strict=True)]
        return tuple(outs[i] for i in self.out_indices)
