"""A feature extractor for one input shape, exported to ONNX in memory and run by onnxruntime's CPU kernels.

On CPU, onnxruntime's blocked convolution kernels run the backbones measured here (RTMPose-m,
HRNet-w32: ``benchmarks/inference.py``) 1.2-1.5x faster than a frozen TorchScript trace, with
outputs equal to float rounding (about 1e-6 relative). :func:`posekit.nn.fuse.freeze_feature_extractor`
uses it where onnxruntime is installed (``posekit[onnx]``) and the export succeeds.
"""

from __future__ import annotations

import importlib.util
import io
import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._pytree import TreeSpec, tree_flatten, tree_unflatten


def onnxruntime_usable(module: nn.Module, inputs: Tensor) -> bool:
    """Whether ``module`` on ``inputs`` can run as an onnxruntime graph: installed, CPU, float32 throughout."""
    if inputs.device.type != "cpu" or inputs.dtype != torch.float32:
        return False
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        return False
    return all(t.dtype == torch.float32 for t in (*module.parameters(), *module.buffers()) if t.is_floating_point())


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
