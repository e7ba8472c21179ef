"""Inference-time rewrites: BatchNorm folded into the preceding conv, channels_last, a compiled feature
extractor, a bfloat16 feature extractor."""

from __future__ import annotations

import functools
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

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


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """Eval mode, BatchNorm folded into convs, weights and 4-D inputs in channels_last; in place.

    Outputs equal the eager model's to about 1e-6 of the largest magnitude and may be channels_last.
    """
    model.eval()
    fuse_conv_bn(model)
    return use_channels_last(model)


def compile_for_inference(model: nn.Module) -> nn.Module:
    """``model.extract_feat`` (backbone and neck) compiled by TorchInductor with frozen weights; in place.

    Under ``torch.no_grad``/``inference_mode`` the weights become constants of the graph
    (Inductor's ``freezing``): convolutions run on pre-packed oneDNN weights and the pointwise
    ops around them are fused. The first call of each input shape compiles (a C++ compiler is
    needed on CPU); after a second batch size the batch dimension is compiled as dynamic.
    """
    import torch._inductor.config as inductor_config

    eager = model.extract_feat
    compiled = torch.compile(getattr(eager, "eager", eager))  # a graph runtime's wrapper keeps the eager method

    @functools.wraps(model.extract_feat)
    def extract_feat(inputs: Tensor) -> Any:
        with inductor_config.patch(freezing=True):
            return compiled(inputs)

    model.extract_feat = extract_feat
    return model


def _to_float(module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook casting a module's tensor outputs back to float32 (the end of the bf16 region)."""
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
            module.register_forward_hook(_to_float)
