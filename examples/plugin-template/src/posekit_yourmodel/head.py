"""YourmodelHead: upsampling convolutions to keypoint heatmaps; its own loss; decoding through a codec."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from posekit.protocols import BaseHead
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, TestCfg, TrainCfg
from posekit.types import CodecConfig


class YourmodelHead(BaseHead):
    """Heatmap head: ``num_upsample`` x2 upsampling blocks and a 1x1 conv to ``out_channels`` maps.

    - ``forward(feats)``: heatmaps ``(B, K, H, W)`` from the last feature map;
    - ``loss``: target-weighted MSE against ``batch.targets["heatmaps"]`` ``(B, K, H, W)``;
    - ``predict``: heatmaps (averaged with the flipped input's under flip test) decoded by
      ``decoder`` into keypoints ``(1, K, 2)`` in input pixels.

    Args:
        in_channels: channels of the last feature map.
        out_channels: number of keypoints K.
        mid_channels: channels of the upsampling blocks. Default: 64.
        num_upsample: number of x2 upsampling blocks. Default: 1.
        loss_weight: weight of the heatmap loss. Default: 1.0.
        decoder: the codec that encodes targets and decodes heatmaps, e.g. MSRAHeatmap.
    """

    #: a small working configuration and the features it takes, for ``posekit plugins --check``
    example_config: ClassVar[dict[str, Any]] = {
        "in_channels": 32,
        "out_channels": 17,
        "decoder": {"type": "MSRAHeatmap", "input_size": [48, 64], "heatmap_size": [12, 16], "sigma": 2.0},
    }
    example_inputs: ClassVar[dict[str, Any]] = {"feat_shapes": [(32, 8, 6)]}

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int = 64,
        num_upsample: int = 1,
        loss_weight: float = 1.0,
        decoder: CodecConfig | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for _ in range(num_upsample):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cin, mid_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(mid_channels),
                nn.ReLU(inplace=True),
            ]
            cin = mid_channels
        self.upsample = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(cin, out_channels, 1)
        self.out_channels = out_channels
        self.loss_weight = loss_weight
        self.decoder = build("codec", decoder) if decoder is not None else None

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        return self.final_layer(self.upsample(feats[-1]))

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        pred = self.forward(feats)
        target = batch.targets["heatmaps"]
        weight = batch.targets["keypoint_weights"].reshape(pred.shape[0], -1, 1, 1)  # (B, K, 1, 1)
        loss = ((pred - target) ** 2 * weight).mean() * self.loss_weight
        with torch.no_grad():  # share of keypoints whose peak lands within 2 heatmap pixels of the target's
            w = pred.shape[-1]
            p = pred.flatten(2).argmax(-1)
            t = target.flatten(2).argmax(-1)
            close = ((p % w - t % w) ** 2 + (p // w - t // w) ** 2) <= 4
            vis = weight.flatten(1) > 0
            acc = close[vis].float().mean() if vis.any() else pred.new_zeros(())
        return {"loss_kpt": loss, "acc_pose": acc}

    def predict(self, feats: tuple, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        if self.decoder is None:
            raise ValueError("YourmodelHead.predict needs a decoder codec")
        if test_cfg.flip_test:
            feats, flipped = feats
            flip_indices = batch.samples[0].flip_indices
            heatmaps = (self.forward(feats) + self.forward(flipped).flip(-1)[:, flip_indices]) / 2
        else:
            heatmaps = self.forward(feats)
        out = []
        for hm in heatmaps.detach().float().cpu().numpy():
            keypoints, scores = self.decoder.decode(np.ascontiguousarray(hm))
            out.append(InstanceData(keypoints=keypoints, keypoint_scores=scores))
        return out
