"""YourmodelBackbone: a small convolutional backbone (stem + stride-2 stages)."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from posekit.protocols import BaseBackbone


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class YourmodelBackbone(BaseBackbone):
    """A stem (stride 4) followed by ``num_stages`` stages, each halving the resolution.

    ``forward(x (B, in_channels, H, W))`` returns the outputs of the stages listed in
    ``out_indices``; stage ``i`` has ``base_channels * 2**i`` channels at stride ``4 * 2**i``.

    Args:
        in_channels: input image channels. Default: 3.
        base_channels: channels of the stem and the first stage. Default: 32.
        num_stages: number of stride-2 stages after the stem. Default: 3.
        out_indices: which stages to return (0-based). Default: (2,), the last.
    """

    #: a small working configuration, for ``posekit plugins --check`` and the conformance tests
    example_config: ClassVar[dict[str, Any]] = {"base_channels": 8}

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 32,
        num_stages: int = 3,
        out_indices: tuple[int, ...] = (2,),
    ) -> None:
        super().__init__()
        if any(not 0 <= i < num_stages for i in out_indices):
            raise ValueError(f"out_indices {out_indices} must lie in [0, {num_stages})")
        self.out_indices = out_indices
        self.stem = nn.Sequential(
            _conv_bn_relu(in_channels, base_channels, 2), _conv_bn_relu(base_channels, base_channels, 2)
        )
        chans = [base_channels * 2**i for i in range(num_stages)]
        self.stages = nn.ModuleList(
            nn.Sequential(_conv_bn_relu(cin, cout, 1 if i == 0 else 2), _conv_bn_relu(cout, cout, 1))
            for i, (cin, cout) in enumerate(zip([base_channels, *chans[:-1]], chans, strict=True))
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
