"""PoseDataPreprocessor: batch to device, to float, BGR->RGB, normalise (as MMPose's)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from posekit.structures import PoseBatch
from posekit.types import DataPreprocessorConfig


class PoseDataPreprocessor(nn.Module):
    """Move a collated batch to the model's device and normalise its images.

    ``batch.inputs`` ``(B, 3, H, W)`` uint8 BGR becomes float ``(x - mean) / std``
    (channels swapped to RGB first when ``bgr_to_rgb``). Non-image inputs (lifting's
    ``(B, C, T)``) are only cast to float when no mean/std is given.

    ``mean``/``std`` are in the 0-255 scale, in the output channel order. ``batch_augments`` run after
    this one on training batches (MMPose's ``BatchSyncRandomResize``), each ``forward(batch, training) -> batch``.
    """

    def __init__(
        self,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        bgr_to_rgb: bool = False,
        pad_size_divisor: int = 1,
        pad_value: float = 0.0,
        non_blocking: bool = True,
        batch_augments: tuple[DataPreprocessorConfig, ...] = (),
    ) -> None:
        from posekit.registry import build

        super().__init__()
        if (mean is None) != (std is None):
            raise ValueError("PoseDataPreprocessor: give both mean and std, or neither")
        self._normalize = mean is not None
        if mean is not None and std is not None:
            if len(mean) != len(std):
                raise ValueError(f"PoseDataPreprocessor: mean has {len(mean)} values but std has {len(std)}")
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), persistent=False)
        self.bgr_to_rgb = bgr_to_rgb
        self.pad_size_divisor = pad_size_divisor
        self.pad_value = pad_value
        self.non_blocking = non_blocking
        where = "data_preprocessor.batch_augments"
        augments = [build("data_preprocessor", c, where=f"{where}[{i}]") for i, c in enumerate(batch_augments)]
        self.batch_augments = nn.ModuleList(augments)
        self.register_buffer("_device_probe", torch.empty(0), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._device_probe.device

    def normalize(self, x: Tensor) -> Tensor:
        """``(B, C, H, W)`` images (any dtype, on the right device) -> normalised float32."""
        x = x.float()
        if self.bgr_to_rgb and x.shape[1] == 3:
            x = x.flip(1)
        if self._normalize:
            x = (x - self.mean) / self.std
        if self.pad_size_divisor > 1:
            h, w = x.shape[-2:]
            ph = (-h) % self.pad_size_divisor
            pw = (-w) % self.pad_size_divisor
            if ph or pw:
                x = torch.nn.functional.pad(x, (0, pw, 0, ph), value=self.pad_value)
        return x

    def forward(self, batch: PoseBatch, training: bool = False) -> PoseBatch:
        """Return the batch on this module's device with normalised float inputs."""
        moved = batch.to(self.device)
        inputs = moved.inputs
        inputs = self.normalize(inputs) if inputs.ndim == 4 else inputs.float()
        out = PoseBatch(inputs=inputs, targets=moved.targets, samples=moved.samples)
        for augment in self.batch_augments if training else ():
            out = augment(out, training=True)
        return out
