"""The ``extractor_graph`` hook: a served model's ``extract_feat`` as one graph per input shape (onnxruntime, or a
frozen TorchScript trace), eager for gradients, other tracers and shapes past the limit; ``init_model`` applies it."""

from __future__ import annotations

import copy

import pytest
import torch
from posekit_onnx.extractor import OnnxRuntimeGraph, freeze_feature_extractor
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import posekit
from posekit.nn import ConvModule, optimize_for_inference


class _TinyEstimator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(ConvModule(3, 8, 3, padding=1, norm_cfg={"type": "BN"}), nn.Conv2d(8, 4, 1))
        torch.manual_seed(0)
        for m in self.modules():  # statistics a fold changes visibly
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 1.5)

    def extract_feat(self, x: torch.Tensor) -> torch.Tensor:  # as an estimator's: backbone (and neck)
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extract_feat(x)


class _NotExportableEstimator(_TinyEstimator):
    def extract_feat(self, x: torch.Tensor) -> torch.Tensor:
        return torch.lgamma(self.backbone(x).abs() + 1)  # aten::lgamma: no ONNX export at opset 17


def _close(out: torch.Tensor, ref: torch.Tensor) -> None:
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_frozen_feature_extractor_per_shape_eager_for_gradients_and_copies() -> None:
    model = _TinyEstimator().eval()
    x2, x3, x4 = (torch.randn(n, 3, 16, 12) for n in (2, 3, 4))
    with torch.no_grad():
        refs = [model(x) for x in (x2, x3, x4)]
    freeze_feature_extractor(optimize_for_inference(model), limit=2)
    with torch.inference_mode(), FlopCounterMode(display=False):
        model(x2)  # a dispatch mode sees every op: eager, nothing traced under it
    assert not model.extract_feat.traces
    with torch.inference_mode():
        outs = [model(x) for x in (x2, x3, x4, x2)]
    for out, ref in zip(outs, [*refs, refs[0]], strict=True):
        _close(out, ref)
    assert len(model.extract_feat.traces) == 2  # batch 2 and 3 traced; 4 ran eager (the limit)
    assert model(x2).requires_grad  # gradients enabled: the eager modules
    copied = copy.deepcopy(model)
    assert copied.extract_feat.eager.__self__ is copied and not copied.extract_feat.traces
    with pytest.raises(TypeError, match="no extract_feat"):
        freeze_feature_extractor(nn.Conv2d(3, 3, 1))


@pytest.mark.parametrize("runtime", ["onnxruntime", "torchscript", "export fails"])
def test_feature_extractor_graph_runtimes(runtime: str) -> None:
    """onnxruntime serves where it can, TorchScript on request or where the export fails."""
    model = _NotExportableEstimator() if runtime == "export fails" else _TinyEstimator()
    model.head = nn.BatchNorm2d(4)  # outside extract_feat: exporting must leave it (and all) in eval mode
    model.eval()
    x = torch.randn(2, 3, 16, 12)
    with torch.no_grad():
        ref = model.head(model(x))
    freeze_feature_extractor(optimize_for_inference(model), onnxruntime=runtime != "torchscript")
    with torch.inference_mode():
        out = model.head(model(x))
    _close(out, ref)
    (graph,) = model.extract_feat.traces.values()
    assert isinstance(graph, OnnxRuntimeGraph if runtime == "onnxruntime" else torch.jit.ScriptModule)
    assert not any(m.training for m in model.modules())


def test_init_model_serves_the_extractor_through_the_hook() -> None:
    """``init_model`` finds this distribution's ``optimize_model`` through ``posekit.hooks``; opt-out keeps it eager."""
    config = {
        "type": "TopdownPoseEstimator",
        "backbone": {"type": "ResNet", "depth": 18, "out_indices": [3]},
        "head": {
            "type": "HeatmapHead",
            "in_channels": 512,
            "out_channels": 17,
            "decoder": {"type": "MSRAHeatmap", "input_size": [64, 64], "heatmap_size": [16, 16], "sigma": 2},
        },
    }
    served, plain = posekit.init_model(config), posekit.init_model(config, optimize=False)
    assert served.extract_feat.eager.__func__ is type(served).extract_feat
    assert not hasattr(plain.extract_feat, "traces")
