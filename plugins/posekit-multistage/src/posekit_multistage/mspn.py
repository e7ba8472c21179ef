"""MSPN: Multi-Stage Pose Network (Li et al. 2019), as MMPose's ``mmpose/models/backbones/mspn.py``.

Dimensions: input ``(B, 3, H, W)``; every stage outputs ``num_units`` maps of ``unit_channels``
channels, coarsest first (unit ``j`` at ``H / 2**(2 + num_units - 1 - j)``). ``forward`` returns
the ``num_stages * num_units`` maps flattened stage-major (MMPose returns them nested), which
``MSPNHead`` (posekit-heatmap) reads.

State_dict keys equal MMPose's: ``top.top.0.*``, ``multi_stage_mspn.S.downsample.layerN.M.*``
(ResNet Bottlenecks, shortcut ``downsample.{conv,bn}``), ``multi_stage_mspn.S.upsample.upJ.*``.
"""

from __future__ import annotations

from torch import Tensor, nn

from posekit.nn import Bottleneck, NormConfig, PretrainedInit, as_config, load_pretrained, load_state_dict
from posekit.nn.checkpoint import ZOO_SCHEMES, extract_state_dict, read_checkpoint
from posekit_multistage._units import BN, TOP_CHANNELS, MultiStageBackbone, init_multistage


def resnet_keys(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """An ImageNet ResNet's ``(top, bottlenecks)`` weights under MSPN's names (MMPose's ``init_weights``)."""
    top: dict[str, Tensor] = {}
    blocks: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith("layer"):
            blocks[key.replace("downsample.0", "downsample.conv").replace("downsample.1", "downsample.bn")] = value
        elif key.startswith(("conv1", "bn1")):
            top[key.replace("conv1", "top.0.conv").replace("bn1", "top.0.bn")] = value
    return top, blocks


class MSPN(MultiStageBackbone):
    """MSPN backbone (`Rethinking on Multi-Stage Networks <https://arxiv.org/abs/1901.00148>`__).

    Args:
        unit_channels: channels of every up-sampling unit's output. Default 256.
        num_stages: stages. Default 4.
        num_units: down/up-sampling units per stage (>= 2). Default 4.
        num_blocks: ResNet Bottlenecks per down-sampling unit (one entry per unit). Default (2, 2, 2, 2).
        norm_cfg: norm layer config. Default ``dict(type='BN')``.
        res_top_channels: channels of the ResNet top; 64 (MMPose's top is fixed at 64). Default 64.
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` of an ImageNet ResNet, copied into the top
            and every stage's down-sampling units as MMPose does; default None (Kaiming-normal convs).
    """

    example_config = {"unit_channels": 8, "num_stages": 2, "num_units": 2, "num_blocks": (1, 1)}
    stages_name = "multi_stage_mspn"

    def __init__(
        self,
        unit_channels: int = 256,
        num_stages: int = 4,
        num_units: int = 4,
        num_blocks: tuple[int, ...] = (2, 2, 2, 2),
        norm_cfg: NormConfig = BN,
        res_top_channels: int = TOP_CHANNELS,
        init_cfg: PretrainedInit | None = None,
    ) -> None:
        super().__init__()
        self.init_cfg = init_cfg

        def block(cin: int, cout: int, stride: int, downsample: nn.Module | None, norm: NormConfig) -> nn.Module:
            return Bottleneck(cin, cout * 4, stride=stride, downsample=downsample, norm_cfg=norm)

        self.build_stages(num_stages, num_units, block, 4, num_blocks, unit_channels, norm_cfg, res_top_channels)
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming-normal convs and unit norms; then ``init_cfg``'s ResNet weights where given."""
        init_multistage(self)
        if self.init_cfg is None:
            return
        cfg = as_config(PretrainedInit, self.init_cfg, "init_cfg")
        if cfg.checkpoint.split("://", 1)[0] in ZOO_SCHEMES:
            load_pretrained(self, cfg)  # a model-zoo name: deferred at build, refused later (as every backbone)
            return
        source = f"MSPN init_cfg checkpoint {cfg.checkpoint!r}"
        top, blocks = resnet_keys(extract_state_dict(read_checkpoint(cfg.checkpoint), cfg.prefix, source))
        load_state_dict(self.top, top, strict=False, source=source)
        for stage in self.multi_stage_mspn:
            load_state_dict(stage.downsample, blocks, strict=False, source=source)
