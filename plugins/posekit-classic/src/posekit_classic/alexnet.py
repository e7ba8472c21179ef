"""AlexNet backbone, as MMPose's ``mmpose/models/backbones/alexnet.py`` (`ImageNet Classification with Deep
Convolutional Neural Networks <https://papers.nips.cc/paper/4824>`__).

Input ``(B, 3, H, W)`` (H, W >= 63); output ``((B, 256, H', W'),)``, the last max-pool's map
(``H' = ((H / 4 - 1) / 2 - 1) / 2 - 1``, about H / 32: ``(B, 256, 7, 5)`` at 256x192), or with
``num_classes > 0`` ``((B, num_classes),)`` from the classifier (224x224 inputs). State_dict keys equal
MMPose's: ``features.{0,3,6,8,10}`` and ``classifier.{1,4,6}``.
"""

from __future__ import annotations

from torch import Tensor, nn

from posekit.nn import PretrainedInit, load_pretrained
from posekit.protocols import BaseBackbone


class AlexNet(BaseBackbone):
    """AlexNet: five convs (11x11 stride 4, 5x5, three 3x3) with ReLUs and three 3x3 stride-2 max-pools.

    Args:
        num_classes: with a positive value, the dropout + three-linear classifier on the 6x6 map; -1
            (default) returns the feature map.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix=...)``; default None (torch's init).
    """

    example_config = {"num_classes": -1}

    def __init__(self, num_classes: int = -1, init_cfg: PretrainedInit | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        if num_classes > 0:
            self.classifier = nn.Sequential(
                nn.Dropout(),
                nn.Linear(256 * 6 * 6, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Linear(4096, num_classes),
            )
        if init_cfg is not None:
            load_pretrained(self, init_cfg)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, 3, H, W)`` -> ``((B, 256, H', W'),)``, or ``((B, num_classes),)`` with a classifier."""
        x = self.features(x)
        if self.num_classes > 0:
            x = self.classifier(x.flatten(1))
        return (x,)
