"""ONNX export of top-down estimators, decoded in the graph where the head supplies it.

The exported graph takes ``input (B, 3, H, W)`` float32 crops with 0..255 pixel values in the
channel order the test pipeline produces (BGR, as OpenCV reads images) and applies the data
preprocessor's normalisation, the backbone, neck and head, the flip test (when on: the
flipped crops run in the same batch) and what the head supplies for export
(:class:`~posekit.protocols.BaseHead`):

- ``head.export_outputs``: the head's outputs as its codec's ``batch_decode`` takes them, the
  flipped crops' outputs mapped back and averaged in;
- ``head.export_decode``: those decoded in the graph to ``keypoints (B, K, 2)`` in model-input
  pixels and ``scores (B, K)``.

A head that supplies no decoding exports its outputs (``output_0``, ``output_1``, ...) and the
onnxruntime backend (:mod:`posekit_onnx.runtime`) decodes them with the head's codec, rebuilt
from the config recorded in the file; a head with no flip-back is exported without the flip
test. A whole-image head that declares ``export_select`` (one-stage heads) exports every
candidate person decoded in the graph (its ``export_outputs``); the backend runs that head's
``export_select`` (score threshold, NMS) after the graph with the ``test_cfg`` recorded in the
file. The batch dimension is dynamic with ``dynamic_batch``. What the backend needs (request kind,
pipeline, keypoint definition, flip setting, codec, test switches) is stored in the model's
metadata under ``posekit``.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from posekit.errors import ConfigError, PosekitError
from posekit.inference.pipeline import model_input_size
from posekit_onnx.runtime import METADATA_KEY, ort_session


def _halves(out: Any, n: int) -> tuple[Any, Any]:
    """Split batch-first outputs (a tensor or a tuple of them) of ``2n`` crops into two of ``n``."""
    if isinstance(out, Tensor):
        return out[:n], out[n:]
    return tuple(o[:n] for o in out), tuple(o[n:] for o in out)


class ExportablePoseModel(nn.Module):
    """An estimator as one traceable graph: crops (or whole images) in, decoded keypoints, codec inputs or
    candidate people out.

    ``forward(input (B, 3, H, W) float32, 0..255)`` returns ``(keypoints (B, K, 2), scores (B, K))``
    in input pixels when the head decodes in the graph (:attr:`decoded`), else the tensors of its
    ``export_outputs``: for the codec to decode at run time, or (:attr:`candidates`, a head with
    ``export_select``) every candidate person of each image, selected after the graph.

    Args:
        model: a top-down estimator in eval mode.
        flip_indices: each keypoint's horizontal-flip partner (the flip test swaps them back).
        flip_test: average with the horizontally flipped crops (default: the model's ``test_cfg``;
            dropped, see :attr:`notes`, when the head has no export flip-back).
    """

    def __init__(self, model: nn.Module, flip_indices: Sequence[int], flip_test: bool | None = None) -> None:
        super().__init__()
        self.model = model
        self.flip_indices = [int(i) for i in flip_indices]
        self.test_cfg = model.test_cfg
        self.codec = self.head.decoder
        head_name = type(self.head).__name__
        self.input_size = model_input_size(model)
        keep = self.test_cfg.output_keypoint_indices
        self.keep = list(keep) if keep is not None else None
        self.flip_test = self.test_cfg.flip_test if flip_test is None else flip_test
        self.notes: list[str] = []
        self.eval()  # an inference graph: the exporter restores this mode on the model when it is done
        with torch.no_grad():  # ask the head once, eagerly, how its graph ends
            out = model._forward(torch.zeros(1, 3, self.input_size[1], self.input_size[0]))
            if self.flip_test and self.head.export_outputs(out, out, self.flip_indices, self.test_cfg) is None:
                if flip_test:
                    raise ConfigError(
                        f"{head_name} (module {type(self.head).__module__}) has no export flip-back: implement "
                        "export_outputs(outputs, flip_outputs, flip_indices, test_cfg) or export without the flip test"
                    )
                self.flip_test = False
                self.notes.append(f"{head_name} has no export flip-back: exporting without the flip test")
            tensors = self.head.export_outputs(out, out if self.flip_test else None, self.flip_indices, self.test_cfg)
            self.candidates = type(self.head).export_select(tensors, self.test_cfg, self.input_size) is not None
            self.decoded = not self.candidates and self.head.export_decode(tensors) is not None
        self.num_outputs = len(tensors)
        if self.codec is None and not (self.candidates or self.decoded):
            raise ConfigError(f"{head_name} has no decoder: set model.head.decoder so its outputs can be decoded")
        if self.candidates:
            self.notes.append(f"{head_name} exports candidate people: its export_select runs after the graph")
        elif not self.decoded:
            self.notes.append(
                f"{head_name} has no export decoding: exporting raw outputs, "
                f"decoded by {type(self.codec).__name__} at run time"
            )

    @property
    def head(self) -> nn.Module:
        return self.model.head

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.model.data_preprocessor.normalize(x)
        if self.flip_test:
            outputs, flipped = _halves(self.model._forward(torch.cat([x, x.flip(-1)])), x.shape[0])
        else:
            outputs, flipped = self.model._forward(x), None
        tensors = self.head.export_outputs(outputs, flipped, self.flip_indices, self.test_cfg)
        if not self.decoded:
            return tensors
        keypoints, scores = self.head.export_decode(tensors)
        if self.keep is not None:
            keypoints, scores = keypoints[:, self.keep], scores[:, self.keep]
        return keypoints, scores

    @property
    def layout(self) -> str:
        """What the graph outputs: ``keypoints`` (decoded), ``candidates`` (people to select) or ``raw``."""
        return "keypoints" if self.decoded else "candidates" if self.candidates else "raw"

    def output_names(self) -> list[str]:
        return ["keypoints", "scores"] if self.decoded else [f"output_{i}" for i in range(self.num_outputs)]


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


def _image_serving(model: nn.Module) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """The request kind, keypoint definition and test pipeline of an estimator served from images; error otherwise.

    The exported graph takes images of the served input size (``model_input_size``): estimators served with person
    boxes (``"image+boxes"``: crops) or whole images (``"image"``) export; keypoint sequences do not.
    """
    from posekit.inference.pipeline import dataset_meta

    serving = model.serving()
    if serving.request not in ("image+boxes", "image"):
        name = type(model).__name__
        raise ConfigError(f"ONNX export takes image crops; {name} serves {serving.request!r} requests")
    return serving.request, dataset_meta(model), serving.test_pipeline()


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    dynamic_batch: bool = False,
    flip_test: bool | None = None,
    batch_size: int = 1,
    opset: int = 17,
    verify: bool = True,
) -> Path:
    """Export an estimator served from images (from :func:`posekit.init_model`) to ONNX.

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
        the written path; its metadata's ``notes`` say what was not baked in (decoding, flip test).
    """
    from posekit.nn.fuse import fuse_conv_bn
    from posekit.registry import config_of

    request, meta, pipeline = _image_serving(model)
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
        "format": 2,
        "request": request,
        "outputs": names,
        "layout": wrapper.layout,
        "decoded": wrapper.decoded,
        "flip_test": wrapper.flip_test,
        "input_size": list(wrapper.input_size),
        "pipeline": _jsonable(pipeline),
        "dataset_meta": _jsonable(meta),
        "model": type(model).__name__,
        "head": type(model.head).__name__,
        "codec": _jsonable(config_of(model.head.decoder)),
        "output_keypoint_indices": wrapper.keep,
        "test_cfg": wrapper.test_cfg.model_dump(mode="json"),
        "notes": wrapper.notes,
    }
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(info)
    onnx.save(proto, str(path))
    if verify:
        verify_onnx(wrapper, path, dummy)
    return path


def verify_onnx(wrapper: nn.Module, path: str | os.PathLike[str], inputs: Tensor, tol: float = 1e-4) -> float:
    """Largest ``|onnx - torch| / max|torch|`` over the outputs; raises when above ``tol``."""
    outputs = ort_session(path).run(None, {"input": inputs.numpy()})
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
