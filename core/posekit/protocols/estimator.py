"""Estimator protocol: the algorithm paradigm that wires backbone, neck and head, and says how it is served."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from torch import Tensor, nn

from posekit.errors import ContractError

if TYPE_CHECKING:
    from posekit.protocols.serving import Serving
    from posekit.structures import PoseBatch, PoseResult

Mode = Literal["loss", "predict", "tensor"]


def distribution_of(cls: type) -> str:
    """The installed distribution that ships ``cls``'s top-level package, else a note saying there is none."""
    from importlib.metadata import packages_distributions

    top = cls.__module__.partition(".")[0]
    dists = packages_distributions().get(top)
    return ", ".join(sorted(set(dists))) if dists else f"no installed distribution (module {cls.__module__})"


def contract_error(owner: object, method: str, purpose: str) -> ContractError:
    """The error for a component (or class) lacking ``method``: names its class, distribution, the method and what
    needs it."""
    cls = owner if isinstance(owner, type) else type(owner)
    return ContractError(
        f"{cls.__name__} (from {distribution_of(cls)}) does not implement {method}, which {purpose}. "
        f"Implement {cls.__name__}.{method} (see CONTRIBUTING.md, 'A new paradigm')."
    )


class BasePoseEstimator(nn.Module):
    """Base class of every algorithm paradigm (top-down, bottom-up, lifting, yours).

    ``forward(inputs, batch, mode)``:

    - ``mode="loss"``: ``dict[str, Tensor]`` of losses and logged scalars;
    - ``mode="predict"``: ``list[PoseResult]``, one per sample, in original image space;
    - ``mode="tensor"``: the head's raw outputs (what ONNX export traces).

    ``inputs`` is the preprocessed tensor ``(B, C, H, W)`` (``(B, C, T)`` for lifting);
    ``batch`` carries targets and per-sample metadata. ``serving()`` returns the paradigm's
    :class:`~posekit.protocols.serving.Serving`.
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
        raise contract_error(self, "extract_feat(inputs)", "returns the backbone (and neck) features")

    def _forward(self, inputs: Tensor) -> Any:
        raise contract_error(self, "_forward(inputs)", "forward(mode='tensor') and export call")

    def loss(self, inputs: Tensor, batch: PoseBatch) -> dict[str, Tensor]:
        raise contract_error(self, "loss(inputs, batch)", "training calls")

    def predict(self, inputs: Tensor, batch: PoseBatch) -> list[PoseResult]:
        raise contract_error(self, "predict(inputs, batch)", "`posekit test`, validation and inference call")

    def serving(self) -> Serving:
        """How this paradigm is served: a :class:`~posekit.protocols.serving.Serving` bound to this model."""
        raise contract_error(self, "serving()", "`posekit infer`, posekit.Inferencer and video inference call")
