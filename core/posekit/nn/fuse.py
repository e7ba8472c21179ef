"""Inference-time rewrites: BatchNorm folded into the preceding conv, channels_last, a frozen or compiled
feature extractor, a bfloat16 feature extractor."""

from __future__ import annotations

import copy
import functools
import logging
import warnings
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from posekit.nn.ort_graph import OnnxRuntimeGraph, onnxruntime_usable

log = logging.getLogger(__name__)

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)

Precision = Literal["fp32", "bf16"]


@torch.no_grad()
def _fold(conv: nn.Module, bn: _BatchNorm) -> None:
    """``conv`` followed by ``bn`` (eval statistics) becomes one conv: w' = w * s, b' = (b - mean) * s + beta."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    if conv.bias is None:
        conv.bias = nn.Parameter(torch.zeros_like(bn.running_mean))
    conv.weight.mul_(scale.reshape(-1, *([1] * (conv.weight.dim() - 1))))
    conv.bias.copy_(conv.bias * scale + shift)


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm into the conv registered just before it, in place; returns ``module``.

    As mmcv's ``fuse_conv_bn``: a BatchNorm child that directly follows a Conv1d/2d/3d child
    (in registration order, which the posekit bricks and backbones keep equal to data order) is
    folded and replaced by ``nn.Identity``. Use on a model in eval mode only: the folded conv
    uses the running statistics, so training afterwards is wrong.
    """
    last_conv: nn.Module | None = None
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and last_conv is not None and child.track_running_stats:
            if child.running_mean is not None and child.num_features == last_conv.out_channels:
                _fold(last_conv, child)
                setattr(module, name, nn.Identity().train(child.training))
            last_conv = None
        elif isinstance(child, _CONVS):
            last_conv = child
        else:
            last_conv = None
            fuse_conv_bn(child)
    return module


def _to_channels_last(module: nn.Module, args: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(
        a.contiguous(memory_format=torch.channels_last) if isinstance(a, Tensor) and a.dim() == 4 else a for a in args
    )


def use_channels_last(model: nn.Module) -> nn.Module:
    """4-D weights in the channels_last memory format, and 4-D inputs of ``model`` converted on entry; in place.

    channels_last (NHWC) is oneDNN's and cuDNN's native layout: convolutions skip the reorders
    around every call. Outputs may be channels_last (call ``.contiguous()`` before ``.view``).
    """
    model.to(memory_format=torch.channels_last)
    model.register_forward_pre_hook(_to_channels_last)
    return model


def optimize_for_inference(model: nn.Module, freeze: bool = False) -> nn.Module:
    """Eval mode, BatchNorm folded into convs, weights and 4-D inputs in channels_last; in place.

    With ``freeze``, also :func:`freeze_feature_extractor`. Outputs equal the eager model's to
    about 1e-6 of the largest magnitude and may be channels_last.
    """
    model.eval()
    fuse_conv_bn(model)
    use_channels_last(model)
    return freeze_feature_extractor(model) if freeze else model


def _tracing_or_intercepted() -> bool:
    """Whether an exporter traces, a compiler compiles, or a dispatch mode (e.g. a FLOP counter) sees each op."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return torch.jit.is_tracing() or torch.compiler.is_compiling() or _get_current_dispatch_mode() is not None


class _FrozenTraces:
    """``extract_feat`` run by a graph made for each exact input shape (eager beyond ``limit`` shapes): an
    onnxruntime session where ``onnxruntime`` allows and the export succeeds, else a frozen TorchScript trace."""

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
        if self.onnxruntime and onnxruntime_usable(extractor, inputs):
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


def freeze_feature_extractor(model: nn.Module, limit: int = 8, onnxruntime: bool = True) -> nn.Module:
    """``model.extract_feat`` (backbone and neck) run as a graph made per input shape; in place.

    Each new input shape (up to ``limit``; eager beyond) gets its graph on first use: with
    ``onnxruntime`` (installed, a float32 model on CPU) the extractor exported to ONNX in memory
    and run by onnxruntime (:mod:`posekit.nn.ort_graph`); otherwise, or where the export fails, a
    frozen TorchScript trace (pre-packed oneDNN weights, fused activations). With gradients
    enabled the eager modules run.
    """
    if not callable(getattr(model, "extract_feat", None)):
        raise TypeError(f"freeze_feature_extractor: {type(model).__name__} has no extract_feat method")
    model.extract_feat = _FrozenTraces(model.extract_feat, limit, onnxruntime)
    return model


def compile_for_inference(model: nn.Module) -> nn.Module:
    """``model.extract_feat`` (backbone and neck) compiled by TorchInductor with frozen weights; in place.

    Under ``torch.no_grad``/``inference_mode`` the weights become constants of the graph
    (Inductor's ``freezing``): convolutions run on pre-packed oneDNN weights and the pointwise
    ops around them are fused. The first call of each input shape compiles (a C++ compiler is
    needed on CPU); after a second batch size the batch dimension is compiled as dynamic.
    """
    import torch._inductor.config as inductor_config

    eager = model.extract_feat
    compiled = torch.compile(eager.eager if isinstance(eager, _FrozenTraces) else eager)  # not the frozen traces

    @functools.wraps(model.extract_feat)
    def extract_feat(inputs: Tensor) -> Any:
        with inductor_config.patch(freezing=True):
            return compiled(inputs)

    model.extract_feat = extract_feat
    return model


class _FloatOutputs:
    """Forward hook casting a module's tensor outputs back to float32 (the end of the bf16 region)."""

    def __call__(self, module: nn.Module, args: Any, output: Any) -> Any:
        if isinstance(output, Tensor):
            return output.float()
        return type(output)(o.float() if isinstance(o, Tensor) else o for o in output)


def _to_bf16(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(a.to(torch.bfloat16) if isinstance(a, Tensor) and a.is_floating_point() else a for a in args)


def enable_bf16(model: nn.Module) -> None:
    """Run the backbone (and neck) in bfloat16, the head and decoding in float32; in place.

    The features are cast back to float32 before the head, so the head's decoding sees float32.
    """
    for name in ("backbone", "neck"):
        module = getattr(model, name, None)
        if module is not None:
            module.to(torch.bfloat16)
            module.register_forward_pre_hook(_to_bf16)
            module.register_forward_hook(_FloatOutputs())
