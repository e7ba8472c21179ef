"""Loss wrappers of MMPose 1.x: MultipleLossWrapper (a list of losses) and CombinedLoss (named losses)."""

from __future__ import annotations

from torch import Tensor, nn

from posekit.registry import build
from posekit.types import LossConfig


class MultipleLossWrapper(nn.Module):
    """Losses applied pairwise to a list of outputs and a list of targets (e.g. one per stage).

    Args:
        losses: one loss config per output, in order.
    """

    example_config = {"losses": [{"type": "MSELoss"}, {"type": "MSELoss"}]}  # posekit plugins --check

    def __init__(self, losses: list[LossConfig]) -> None:
        super().__init__()
        self.num_losses = len(losses)
        self.loss_modules = nn.ModuleList(build("loss", cfg, f"losses[{i}]") for i, cfg in enumerate(losses))

    def forward(
        self, input_list: list[Tensor], target_list: list[Tensor], keypoint_weights: Tensor | None = None
    ) -> list[Tensor]:
        """One loss per (input, target) pair, each called with ``keypoint_weights``."""
        if len(input_list) != self.num_losses or len(target_list) != self.num_losses:
            raise ValueError(
                f"MultipleLossWrapper: {self.num_losses} losses but {len(input_list)} inputs and "
                f"{len(target_list)} targets"
            )
        return [
            loss(x, t, keypoint_weights) for loss, x, t in zip(self.loss_modules, input_list, target_list, strict=True)
        ]


class CombinedLoss(nn.ModuleDict):
    """Named losses with different inputs, each called explicitly (``loss_module.heatmap_loss(...)``).

    Args:
        losses: loss configs by name.
    """

    example_config = {"losses": {"keypoint_loss": {"type": "MSELoss"}}}  # posekit plugins --check

    def __init__(self, losses: dict[str, LossConfig]) -> None:
        super().__init__()
        for name, cfg in losses.items():
            self.add_module(name, build("loss", cfg, f"losses.{name}"))
