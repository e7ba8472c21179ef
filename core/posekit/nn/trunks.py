"""Shared head trunks: SimpleBaseline's deconvolution / convolution layers and final conv.

Dimensions: feature ``(B, C, h, w)``; maps ``(B, K, H, W)`` with ``H = h * 2 ** len(deconv_out_channels)``.

Keys are MMPose's ``HeatmapHead``'s (``deconv_layers``, ``conv_layers``, ``final_layer``), held as
the head's own attributes (:func:`heatmap_layers`) or nested in a :class:`HeatmapTrunk` (a head that
reads maps from a nested trunk or a lone final conv: :func:`trunk_map_size`, :func:`trunk_maps`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from posekit.nn.configs import FinalLayerConfig
from posekit.nn.init import constant_init, normal_init

#: deconv kernel -> (padding, output_padding) of a stride-2 ConvTranspose2d that exactly doubles the size
_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def _check_pair(name: str, channels: Sequence[int] | None, kernels: Sequence[int] | None) -> None:
    if channels and (kernels is None or len(kernels) != len(channels)):
        raise ValueError(
            f"{name}_kernel_sizes: expected one kernel per {name}_out_channels entry ({len(channels)}), got {kernels}"
        )


def deconv_layers(
    in_channels: int, out_channels: Sequence[int], kernel_sizes: Sequence[int], groups: Sequence[int] | None = None
) -> nn.Sequential:
    """Stride-2 ConvTranspose2d (no bias, kernel 2, 3 or 4), BatchNorm2d, ReLU per entry; each doubles the size.

    ``groups`` per layer serve ViPNAS's elastic deconvs (None: 1 each).
    """
    layers: list[nn.Module] = []
    for i, (out, kernel) in enumerate(zip(out_channels, kernel_sizes, strict=True)):
        if kernel not in _DECONV_PADDING:
            raise ValueError(f"deconv_kernel_sizes: each must be 2, 3 or 4, got {kernel}")
        padding, output_padding = _DECONV_PADDING[kernel]
        g = 1 if groups is None else groups[i]
        layers += [
            nn.ConvTranspose2d(in_channels, out, kernel, 2, padding, output_padding, groups=g, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
        ]
        in_channels = out
    return nn.Sequential(*layers)


def conv_layers(in_channels: int, out_channels: Sequence[int], kernel_sizes: Sequence[int]) -> nn.Sequential:
    """Same-size Conv2d (odd kernels), BatchNorm2d, ReLU per entry."""
    layers: list[nn.Module] = []
    for out, kernel in zip(out_channels, kernel_sizes, strict=True):
        layers += [nn.Conv2d(in_channels, out, kernel, 1, (kernel - 1) // 2), nn.BatchNorm2d(out), nn.ReLU(True)]
        in_channels = out
    return nn.Sequential(*layers)


def final_conv(
    in_channels: int, out_channels: int, cfg: FinalLayerConfig | Mapping[str, Any] | None
) -> nn.Conv2d | None:
    """The ``final_layer`` Conv2d to K maps of MMPose's ``final_layer`` dict; None when ``cfg`` is None."""
    if cfg is None:
        return None
    f = FinalLayerConfig.model_validate(cfg)
    return nn.Conv2d(in_channels, out_channels, f.kernel_size, f.stride, f.padding, bias=f.bias)


#: ``(out_channels, kernel_sizes)`` of a run of layers, as a head's ``*_out_channels`` / ``*_kernel_sizes``
LayerSpec = tuple[Sequence[int] | None, Sequence[int] | None]


def heatmap_layers(
    in_channels: int,
    out_channels: int,
    deconv: LayerSpec = ((256, 256, 256), (4, 4, 4)),
    conv: LayerSpec = (None, None),
    final_layer: FinalLayerConfig | Mapping[str, Any] | None = FinalLayerConfig(),
) -> tuple[nn.Module, nn.Module, nn.Module]:
    """``(deconv_layers, conv_layers, final_layer)`` of a SimpleBaseline head; absent parts are ``nn.Identity``.

    ``deconv`` and ``conv`` are ``(out_channels, kernel_sizes)`` pairs (None or empty channels: none).
    """
    (deconv_out_channels, deconv_kernel_sizes), (conv_out_channels, conv_kernel_sizes) = deconv, conv
    _check_pair("deconv", deconv_out_channels, deconv_kernel_sizes)
    _check_pair("conv", conv_out_channels, conv_kernel_sizes)
    channels = in_channels
    deconvs: nn.Module = nn.Identity()
    if deconv_out_channels:
        deconvs = deconv_layers(channels, deconv_out_channels, deconv_kernel_sizes or ())
        channels = deconv_out_channels[-1]
    convs: nn.Module = nn.Identity()
    if conv_out_channels:
        convs = conv_layers(channels, conv_out_channels, conv_kernel_sizes or ())
        channels = conv_out_channels[-1]
    return deconvs, convs, final_conv(channels, out_channels, final_layer) or nn.Identity()


def init_heatmap_layers(module: nn.Module) -> None:
    """MMPose's heatmap-head init: convs and deconvs from N(0, 0.001^2) with zero bias, BatchNorm to 1 / 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            normal_init(m, std=0.001)
        elif isinstance(m, nn.BatchNorm2d):
            constant_init(m, 1.0)


class HeatmapTrunk(nn.Module):
    """The layers of MMPose's ``HeatmapHead`` without its loss or codec, for heads that nest one.

    Input ``feats`` (a backbone's tuple; the last map ``(B, C, h, w)`` is used), output
    ``(B, K, H, W)``. Keys: ``deconv_layers.*``, ``conv_layers.*``, ``final_layer.*``.
    Arguments as :func:`heatmap_layers`; initialised by :func:`init_heatmap_layers`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        deconv: LayerSpec = ((256, 256, 256), (4, 4, 4)),
        conv: LayerSpec = (None, None),
        final_layer: FinalLayerConfig | Mapping[str, Any] | None = FinalLayerConfig(),
    ) -> None:
        super().__init__()
        layers = heatmap_layers(in_channels, out_channels, deconv, conv, final_layer)
        self.deconv_layers, self.conv_layers, self.final_layer = layers
        init_heatmap_layers(self)

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        """``feats[-1] (B, C, h, w)`` -> maps ``(B, K, H, W)``."""
        return self.final_layer(self.conv_layers(self.deconv_layers(feats[-1])))


def trunk_map_size(in_featuremap_size: Sequence[int], deconv_out_channels: Sequence[int] | None) -> tuple[int, ...]:
    """Size ``(w, h)`` of the maps after the stride-2 deconvs (each doubles ``in_featuremap_size``; None: none)."""
    return tuple(s * 2 ** len(deconv_out_channels or ()) for s in in_featuremap_size)


def trunk_maps(trunk: nn.Module | None, final_layer: nn.Module | None, feats: tuple[Tensor, ...]) -> Tensor:
    """Maps ``(B, K, H, W)`` of a head holding a nested ``trunk`` (given ``feats``) or else a ``final_layer`` conv
    on ``feats[-1] (B, C, h, w)`` (``feats[-1]`` itself when both are None)."""
    if trunk is not None:
        return trunk(feats)
    return feats[-1] if final_layer is None else final_layer(feats[-1])
