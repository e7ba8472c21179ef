"""YOLOXPAFPN neck (YOLOX / YOLOX-Pose), as MMPose's ``mmpose/models/necks/yolox_pafpn.py``.

Input: levels ``(B, in_channels[i], H_i, W_i)`` (strides 8, 16, 32); a top-down path (1x1 reduce,
upsample, CSP layer) then a bottom-up path (strided 3x3 conv, CSP layer), and a 1x1 ConvModule per
level to ``out_channels``. Output: a tuple of ``(B, out_channels, H_i, W_i)``. Keys as MMPose's
(``reduce_layers``, ``top_down_blocks``, ``downsamples``, ``bottom_up_blocks``, ``out_convs``).
"""

from __future__ import annotations

from torch import Tensor, nn

from posekit.nn import ActConfig, ConvModule, NormConfig
from posekit_cspnext._layers import CSP_BN, PAFPN, UpsampleConfig


class YOLOXPAFPN(PAFPN):
    """Path-aggregation FPN of YOLOX.

    Args:
        in_channels: channels of each input level.
        out_channels: channels of every output.
        num_csp_blocks: Darknet bottlenecks per CSP layer. Default 3.
        use_depthwise: depthwise-separable downsample convs. Default False.
        upsample_cfg: the upsampling. Default nearest x2.
        conv_cfg: must be None. Default None.
        norm_cfg: norm config. Default ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg: activation config. Default Swish.
    """

    example_config = {"in_channels": (8, 16, 32), "out_channels": 8, "num_csp_blocks": 1}
    example_inputs = {"feat_shapes": [(8, 16, 16), (16, 8, 8), (32, 4, 4)]}

    def __init__(
        self,
        in_channels: tuple[int, ...],
        out_channels: int,
        num_csp_blocks: int = 3,
        use_depthwise: bool = False,
        upsample_cfg: UpsampleConfig = UpsampleConfig(),
        conv_cfg: None = None,
        norm_cfg: NormConfig = CSP_BN,
        act_cfg: ActConfig = ActConfig(type="Swish"),
    ) -> None:
        super().__init__()
        self.build_paths(in_channels, upsample_cfg, num_csp_blocks, use_depthwise, norm_cfg, act_cfg)
        self.out_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg) for c in in_channels
        )
        self.init_weights()

    def forward(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """``L`` maps ``(B, in_channels[i], H_i, W_i)`` -> ``L`` maps ``(B, out_channels, H_i, W_i)``."""
        return tuple(conv(x) for conv, x in zip(self.out_convs, self.paths(inputs), strict=True))
