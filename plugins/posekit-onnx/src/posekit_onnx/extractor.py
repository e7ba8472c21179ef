"""``extractor_graph``: a served estimator's ``extract_feat`` (backbone and neck) run as one graph per input shape.

The ``optimize_model`` hook ``posekit.init_model`` calls on a model it serves. On CPU, onnxruntime's
blocked convolution kernels run the backbones measured here (RTMPose-m, HRNet-w32:
``benchmarks/inference.py``) 1.06-1.25x faster than a frozen TorchScript trace, with outputs equal to
float rounding (about 1e-6 relative); elsewhere (CUDA, bf16, an op the exporter lacks) a frozen
TorchScript trace serves.
"""

from __future__ import annotations

import copy
import io
import logging
import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._pytree import TreeSpec, tree_flatten, tree_unflatten

from posekit import hookimpl

log = logging.getLogger(__name__)


@hookimpl
def optimize_model(model: nn.Module) -> nn.Module | None:
    """:func:`freeze_feature_extractor` for a model with an ``extract_feat`` method; None for any other."""
    return freeze_feature_extractor(model) if callable(getattr(model, "extract_feat", None)) else None


def freeze_feature_extractor(model: nn.Module, limit: int = 8, onnxruntime: bool = True) -> nn.Module:
    """``model.extract_feat`` run as a graph made per input shape; in place.

    Each new input shape (up to ``limit``; eager beyond) gets its graph on first use: with
    ``onnxruntime`` (a float32 model on CPU) the extractor exported to ONNX in memory and run by
    onnxruntime (:class:`OnnxRuntimeGraph`); otherwise, or where the export fails, a frozen
    TorchScript trace (pre-packed oneDNN weights, fused activations). With gradients enabled, in
    train mode or under another tracer (exporters, compilers, FLOP counters) the eager modules run.
    """
    if not callable(getattr(model, "extract_feat", None)):
        raise TypeError(f"freeze_feature_extractor: {type(model).__name__} has no extract_feat method")
    model.extract_feat = _FrozenTraces(model.extract_feat, limit, onnxruntime)
    return model


def _tracing_or_intercepted() -> bool:
    """Whether an exporter traces, a compiler compiles, or a dispatch mode (e.g. a FLOP counter) sees each op."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return torch.jit.is_tracing() or torch.compiler.is_compiling() or _get_current_dispatch_mode() is not None


def _onnxruntime_usable(module: nn.Module, inputs: Tensor) -> bool:
    """Whether ``module`` on ``inputs`` can run as an onnxruntime graph: CPU, float32 throughout."""
    if inputs.device.type != "cpu" or inputs.dtype != torch.float32:
        return False
    return all(t.dtype == torch.float32 for t in (*module.parameters(), *module.buffers()) if t.is_floating_point())


class _FrozenTraces:
    """``extract_feat`` run by a graph made for each exact input shape (eager beyond ``limit`` shapes); the
    eager method stays ``eager`` (``posekit.nn.fuse.compile_for_inference`` compiles that one)."""

    def __init__(self, eager: Any, limit: int, onnxruntime: bool = True) -> None:
        self.eager, self.limit, self.onnxruntime = eager, limit, onnxruntime
        self.traces: dict[tuple[Any, ...], Any] = {}

    def __call__(self, inputs: Tensor) -> Any:
        if torch.is_grad_enabled() or inputs.requires_grad or self.eager.__self__.training or _tracing_or_intercepted():
            return self.eager(inputs)  # a graph has no gradients nor train-mode norms; others tracing see the modules
        nhwc = inputs.is_contiguous(memory_format=torch.channels_last)
        key = (tuple(inputs.shape), inputs.dtype, inputs.device, nhwc)
        trace = self.traces.get(key)
        if trace is None:
            if len(self.traces) >= self.limit:
                return self.eager(inputs)
            trace = self.traces[key] = self._trace(inputs)
        return trace(inputs)

    def __deepcopy__(self, memo: dict[int, Any]) -> _FrozenTraces:
        """A copy bound to the copied model, tracing anew (a copy may be changed, e.g. exported unfolded)."""
        return _FrozenTraces(copy.deepcopy(self.eager, memo), self.limit, self.onnxruntime)

    def _trace(self, inputs: Tensor) -> Any:
        extractor = _Extractor(self.eager.__self__, self.eager.__func__)
        extractor.training = False  # as the estimator's (exporters restore this mode, recursively)
        if self.onnxruntime and _onnxruntime_usable(extractor, inputs):
            try:
                return OnnxRuntimeGraph(extractor, inputs)
            except Exception as e:  # an op the exporter lacks: the TorchScript trace serves instead
                self.onnxruntime = False
                log.info(
                    "extract_feat not exported to onnxruntime (%s: %s); frozen TorchScript traces serve it",
                    type(e).__name__,
                    e,
                )
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's and TorchScript's deprecation warnings
            traced = torch.jit.trace(extractor, inputs.clone(), check_trace=False, strict=False)
            return torch.jit.freeze(traced.eval())


class _Extractor(nn.Module):
    """The estimator's own ``extract_feat`` (its class's, overrides included) as a module to trace."""

    def __init__(self, estimator: nn.Module, extract_feat: Any) -> None:
        super().__init__()
        self.estimator, self.extract_feat = estimator, extract_feat

    def forward(self, inputs: Tensor) -> Any:
        return self.extract_feat(self.estimator, inputs)


class OnnxRuntimeGraph:
    """``module(inputs)`` for ``inputs`` of one shape, as an onnxruntime session; outputs keep their nesting.

    Raises what the exporter raises for a module it cannot export (the caller falls back).
    """

    def __init__(self, module: nn.Module, inputs: Tensor) -> None:
        import onnxruntime as ort

        flat, example = _Flattened(module), inputs.contiguous()
        graph = io.BytesIO()
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warnings
            torch.onnx.export(flat, (example,), graph, input_names=["input"], opset_version=17, dynamo=False)
        self.structure = flat.structure
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # torch's head runs next
        self.session = ort.InferenceSession(graph.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, inputs: Tensor) -> Any:
        outputs = self.session.run(None, {"input": inputs.contiguous().numpy()})
        return tree_unflatten([torch.from_numpy(o) for o in outputs], self.structure)


class _Flattened(nn.Module):
    """``module``'s outputs as a flat tuple (what ONNX exports); the nesting is kept in ``structure`` on the way."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.training = module.training  # the exporter restores the wrapper's mode, recursively
        self.structure: TreeSpec | None = None

    def forward(self, inputs: Tensor) -> tuple[Tensor, ...]:
        leaves, self.structure = tree_flatten(self.module(inputs))
        return tuple(leaves)
