"""ONNX export of top-down estimators, decoding included where the graph allows it.

The exported graph takes ``input (B, 3, H, W)`` float32 crops with 0..255 pixel values in the
channel order the test pipeline produces (BGR, as OpenCV reads images) and applies the data
preprocessor's normalisation, the backbone, neck and head, the flip test (when on: the
flipped crops run in the same batch) and the decoding:

- ``HeatmapHead`` + ``MSRAHeatmap`` (not unbiased): heatmap argmax and MMPose's quarter-pixel
  shift towards the higher neighbour;
- ``SimCCHead`` / ``RTMCCHead`` + ``SimCCLabel`` (no DARK): SimCC argmax, score = min of the
  x and y maxima;
- ``RegressionHead`` / ``RLEHead`` + ``RegressionLabel``: normalized coordinates times the input size
  (RLE: score = mean of 1 - sigma).

Those graphs output ``keypoints (B, K, 2)`` in model-input pixels and ``scores (B, K)``. A
``HeatmapHead`` with another heatmap codec (UDP, DARK, Megvii) outputs the flip-averaged
``heatmaps (B, K, H', W')`` and the onnxruntime backend decodes them with the codec. The batch
dimension is dynamic with ``dynamic_batch``. What the backend needs (pipeline, keypoint
definition, flip setting) is stored in the model's metadata under ``posekit``.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.errors import ConfigError, PosekitError

METADATA_KEY = "posekit"
HEATMAP_HEADS = frozenset({"HeatmapHead"})
SIMCC_HEADS = frozenset({"SimCCHead", "RTMCCHead"})
REGRESSION_HEADS = frozenset({"RegressionHead", "RLEHead"})

DecodeKind = Literal["heatmap", "heatmap_raw", "simcc", "regression"]


def decode_kind(model: nn.Module) -> DecodeKind:
    """How the exported graph of ``model`` ends (see the module docstring); error when unsupported."""
    head = getattr(model, "head", None)
    codec = getattr(head, "decoder", None)
    head_name, codec_name = type(head).__name__, type(codec).__name__
    if head_name in HEATMAP_HEADS:
        if codec_name == "MSRAHeatmap" and not getattr(codec, "unbiased", False):
            return "heatmap"
        return "heatmap_raw"
    if head_name in SIMCC_HEADS and codec_name == "SimCCLabel" and not getattr(codec, "use_dark", False):
        return "simcc"
    if head_name in REGRESSION_HEADS and codec_name == "RegressionLabel":
        return "regression"
    raise ConfigError(
        f"ONNX export supports top-down HeatmapHead (any heatmap codec), SimCCHead/RTMCCHead with SimCCLabel "
        f"(use_dark=False) and RegressionHead/RLEHead with RegressionLabel; got {head_name} with {codec_name}"
    )


def decode_heatmaps(heatmaps: Tensor, scale_factor: Sequence[float]) -> tuple[Tensor, Tensor]:
    """MSRA heatmap decoding in torch: argmax plus MMPose's quarter-pixel refinement.

    Args:
        heatmaps: ``(B, K, H, W)``.
        scale_factor: ``(sx, sy)`` from heatmap to input pixels.

    Returns:
        ``keypoints (B, K, 2)`` in input pixels (``-1 * scale`` where the maximum is <= 0) and
        ``scores (B, K)`` (the maxima).
    """
    b, k, h, w = heatmaps.shape
    scores, index = heatmaps.reshape(b, k, h * w).max(dim=-1)
    x = torch.where(scores > 0, index % w, torch.full_like(index, -1))
    y = torch.where(scores > 0, torch.div(index, w, rounding_mode="floor"), torch.full_like(index, -1))
    padded = F.pad(heatmaps, (1, 1, 1, 1)).reshape(b, k, (h + 2) * (w + 2))
    xc, yc = x.clamp(0, w - 1), y.clamp(0, h - 1)

    def at(yy: Tensor, xx: Tensor) -> Tensor:
        return padded.gather(-1, ((yy + 1) * (w + 2) + xx + 1).unsqueeze(-1)).squeeze(-1)

    dx = at(yc, xc + 1) - at(yc, xc - 1)
    dy = at(yc + 1, xc) - at(yc - 1, xc)
    zero = torch.zeros_like(dx)
    dx = torch.where((x > 1) & (x < w - 1) & (y > 0) & (y < h), dx, zero)
    dy = torch.where((y > 1) & (y < h - 1) & (x > 0) & (x < w), dy, zero)
    keypoints = torch.stack([x.float() + torch.sign(dx) * 0.25, y.float() + torch.sign(dy) * 0.25], dim=-1)
    return keypoints * torch.tensor(scale_factor, dtype=keypoints.dtype), scores


def decode_simcc(simcc_x: Tensor, simcc_y: Tensor, split_ratio: float) -> tuple[Tensor, Tensor]:
    """SimCC decoding in torch: argmax per axis, score = min of the two maxima.

    Args:
        simcc_x: ``(B, K, Wx)``.
        simcc_y: ``(B, K, Wy)``.
        split_ratio: bins per input pixel.

    Returns:
        ``keypoints (B, K, 2)`` in input pixels (``-1 / split_ratio`` where the score is <= 0) and ``scores (B, K)``.
    """
    max_x, x = simcc_x.max(dim=-1)
    max_y, y = simcc_y.max(dim=-1)
    scores = torch.minimum(max_x, max_y)
    locs = torch.stack([x, y], dim=-1).float()
    locs = torch.where((scores > 0).unsqueeze(-1), locs, torch.full_like(locs, -1.0))
    return locs / split_ratio, scores


class ExportablePoseModel(nn.Module):
    """A top-down estimator as one traceable graph: crops in, decoded keypoints out.

    ``forward(input (B, 3, H, W) float32, 0..255)`` returns ``(keypoints (B, K, 2), scores (B, K))``
    in input pixels, or ``(heatmaps,)`` for heatmap codecs decoded outside the graph.

    Args:
        model: a top-down estimator in eval mode.
        flip_indices: each keypoint's horizontal-flip partner (the flip test swaps them back).
        flip_test: average with the horizontally flipped crops (default: the model's ``test_cfg``).
    """

    def __init__(self, model: nn.Module, flip_indices: Sequence[int], flip_test: bool | None = None) -> None:
        super().__init__()
        self.model = model
        self.kind = decode_kind(model)
        self.flip_indices = [int(i) for i in flip_indices]
        self.test_cfg = model.test_cfg
        self.flip_test = self.test_cfg.flip_test if flip_test is None else flip_test
        self.codec = model.head.decoder
        self.input_size = tuple(int(v) for v in np.asarray(self.codec.input_size).reshape(-1)[:2])
        keep = self.test_cfg.output_keypoint_indices
        self.keep = list(keep) if keep is not None else None
        self.eval()  # an inference graph: the exporter restores this mode on the model when it is done

    def _combine(self, out: Any, flipped: Any) -> Any:
        from posekit.codec_utils import flip_coordinates, flip_heatmaps, flip_vectors

        if self.kind in ("heatmap", "heatmap_raw"):
            back = flip_heatmaps(flipped, self.flip_indices, self.test_cfg.flip_mode, self.test_cfg.shift_heatmap)
            return (out + back) * 0.5
        if self.kind == "simcc":
            fx, fy = flip_vectors(flipped[0], flipped[1], self.flip_indices)
            return (out[0] + fx) * 0.5, (out[1] + fy) * 0.5
        back = flip_coordinates(flipped, self.flip_indices, self.test_cfg.shift_coords, self.input_size)
        return (self._sigmoid_sigma(out) + self._sigmoid_sigma(back)) * 0.5

    @staticmethod
    def _sigmoid_sigma(coords: Tensor) -> Tensor:
        """RLE outputs (x, y, sigma logits): sigma through a sigmoid, as RLEHead.predict."""
        if coords.shape[-1] == 4:
            return torch.cat([coords[..., :2], coords[..., 2:].sigmoid()], dim=-1)
        return coords

    def _decode(self, out: Any) -> tuple[Tensor, ...]:
        if self.kind == "heatmap_raw":
            return (out,)
        if self.kind == "heatmap":
            h, w = out.shape[-2:]
            keypoints, scores = decode_heatmaps(out, (self.input_size[0] / w, self.input_size[1] / h))
        elif self.kind == "simcc":
            keypoints, scores = decode_simcc(out[0], out[1], float(self.codec.simcc_split_ratio))
        else:
            coords = out if self.flip_test else self._sigmoid_sigma(out)
            keypoints = coords[..., :2] * torch.tensor(self.input_size, dtype=coords.dtype)
            if coords.shape[-1] == 4:
                scores = (1 - coords[..., 2:4]).mean(dim=-1)
            else:
                scores = torch.ones_like(coords[..., 0])
        if self.keep is not None:
            keypoints, scores = keypoints[:, self.keep], scores[:, self.keep]
        return keypoints, scores

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.model.data_preprocessor.normalize(x)
        n = x.shape[0]
        if not self.flip_test:
            return self._decode(self.model._forward(x))
        out = self.model._forward(torch.cat([x, x.flip(-1)]))
        if isinstance(out, Tensor):
            return self._decode(self._combine(out[:n], out[n:]))
        return self._decode(self._combine(tuple(o[:n] for o in out), tuple(o[n:] for o in out)))

    def output_names(self) -> list[str]:
        return ["heatmaps"] if self.kind == "heatmap_raw" else ["keypoints", "scores"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    dynamic_batch: bool = False,
    flip_test: bool | None = None,
    batch_size: int = 1,
    opset: int = 17,
    verify: bool = True,
) -> Path:
    """Export a top-down estimator (from :func:`posekit.init_model`) to ONNX.

    Args:
        model: the estimator; it is copied, BatchNorm folded into the convolutions, not changed.
        path: the ``.onnx`` file to write.
        dynamic_batch: make the batch dimension dynamic (default False: fixed at ``batch_size``).
        flip_test: bake the flip test into the graph; default: the model's ``test_cfg.flip_test``.
        batch_size: the traced (and, without ``dynamic_batch``, fixed) batch size (default 1).
        opset: the ONNX opset (default 17).
        verify: run the file with onnxruntime on random crops and check its outputs equal the
            torch graph's to ``1e-4`` of their largest magnitude (default True).

    Returns:
        the written path.
    """
    from posekit.inference.pipeline import dataset_meta
    from posekit.nn.fuse import fuse_conv_bn

    serving = model.serving()
    if serving.request != "image+boxes":
        name = type(model).__name__
        raise ConfigError(f"ONNX export supports top-down estimators; {name} serves {serving.request!r} requests")
    meta = dataset_meta(model)
    pipeline = serving.test_pipeline()
    wrapper = ExportablePoseModel(fuse_conv_bn(copy.deepcopy(model).cpu().eval()), meta["flip_indices"], flip_test)
    w, h = wrapper.input_size
    traced = max(batch_size, 2) if dynamic_batch else batch_size  # trace a batch > 1 so nothing fixes it
    dummy = torch.rand(traced, 3, h, w) * 255
    names = wrapper.output_names()
    axes = {n: {0: "batch"} for n in ["input", *names]} if dynamic_batch else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            input_names=["input"],
            output_names=names,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    import onnx

    proto = onnx.load(str(path))
    info = {
        "format": 1,
        "paradigm": "topdown",
        "outputs": names,
        "flip_test": wrapper.flip_test,
        "input_size": list(wrapper.input_size),
        "pipeline": _jsonable(pipeline),
        "dataset_meta": _jsonable(meta),
        "model": type(model).__name__,
        "head": type(model.head).__name__,
        "codec": type(wrapper.codec).__name__,
        "output_keypoint_indices": wrapper.keep,
    }
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(info)
    onnx.save(proto, str(path))
    if verify:
        verify_onnx(wrapper, path, dummy)
    return path


def verify_onnx(wrapper: nn.Module, path: str | os.PathLike[str], inputs: Tensor, tol: float = 1e-4) -> float:
    """Largest ``|onnx - torch| / max|torch|`` over the outputs; raises when above ``tol``."""
    from posekit.inference.onnx_backend import ort_session

    session = ort_session(path)
    outputs = session.run(None, {"input": inputs.numpy()})
    with torch.no_grad():
        expected = wrapper(inputs)
    worst = 0.0
    for name, got, ref in zip(wrapper.output_names(), outputs, expected, strict=True):
        ref_np = ref.numpy()
        err = float(np.abs(got - ref_np).max() / max(float(np.abs(ref_np).max()), 1e-12))
        if err > tol:
            raise PosekitError(
                f"exported {path}: output {name!r} differs from torch by {err:.2e} (> {tol:g}) of its scale"
            )
        worst = max(worst, err)
    return worst
