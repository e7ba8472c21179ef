"""Estimator protocol: the algorithm paradigm that wires backbone, neck and head."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from torch import Tensor, nn

if TYPE_CHECKING:
    from posekit.structures import PoseBatch, PoseResult

Mode = Literal["loss", "predict", "tensor"]


class BasePoseEstimator(nn.Module):
    """Base class of every algorithm paradigm (top-down, bottom-up, lifting, yours).

    ``forward(inputs, batch, mode)``:

    - ``mode="loss"``: ``dict[str, Tensor]`` of losses and logged scalars;
    - ``mode="predict"``: ``list[PoseResult]``, one per sample, in original image space;
    - ``mode="tensor"``: the head's raw outputs (what ONNX export traces).

    ``inputs`` is the preprocessed tensor ``(B, C, H, W)`` (``(B, C, T)`` for lifting);
    ``batch`` carries targets and per-sample metadata.
    """

    def forward(self, inputs: Tensor, batch: PoseBatch | None = None, mode: Mode = "tensor") -> Any:
        if mode == "loss":
            return self.loss(inputs, batch)
        if mode == "predict":
            return self.predict(inputs, batch)
        if mode == "tensor":
            return self._forward(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _forward(self, inputs: Tensor) -> Any:
        raise NotImplementedError

    def loss(self, inputs: Tensor, batch: PoseBatch) -> dict[str, Tensor]:
        raise NotImplementedError

    def predict(self, inputs: Tensor, batch: PoseBatch) -> list[PoseResult]:
        raise NotImplementedError
