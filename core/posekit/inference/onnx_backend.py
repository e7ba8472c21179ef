"""The onnxruntime backend of top-down inference (``pip install posekit[onnx]``).

It runs a file written by :func:`posekit.export.export_onnx`: the crops go in, keypoints in
model-input pixels come out (or heatmaps, decoded here with the model's codec) and are mapped
back to the image with each crop's center and scale. The file's ``posekit`` metadata gives
the test pipeline, the keypoint definition and the flip setting.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from torch import Tensor

from posekit.errors import ConfigError
from posekit.export import METADATA_KEY
from posekit.inference.topdown import input_to_image_batch
from posekit.structures import PoseSample


def ort_session(path: str | os.PathLike[str], providers: tuple[str, ...] | None = None, num_threads: int = 0) -> Any:
    """An ``onnxruntime.InferenceSession`` with all graph optimisations.

    Args:
        path: the ``.onnx`` file.
        providers: execution providers (default: CUDA when available, else CPU).
        num_threads: intra-op threads (0: onnxruntime's default, all cores).
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ConfigError("the onnxruntime backend needs onnxruntime: pip install 'posekit[onnx]'") from e
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = num_threads
    available = ort.get_available_providers()
    chosen = providers or tuple(p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available)
    return ort.InferenceSession(os.fspath(path), options, providers=list(chosen))


class OnnxTopdown:
    """Top-down inference with an exported ONNX file.

    Args:
        path: the ``.onnx`` file from ``posekit export``.
        codec: the model's codec, needed only for files that output heatmaps (built from the
            experiment's ``model.head.decoder``); None otherwise.
        providers: onnxruntime execution providers (default: CUDA when available, else CPU).
        num_threads: intra-op threads (0: all cores).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        codec: Any = None,
        providers: tuple[str, ...] | None = None,
        num_threads: int = 0,
    ) -> None:
        self.path = os.fspath(path)
        self.session = ort_session(path, providers, num_threads)
        raw = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if raw is None:
            raise ConfigError(f"{self.path} has no posekit metadata: export it with `posekit export`")
        info: dict[str, Any] = json.loads(raw)
        self.pipeline: list[dict[str, Any]] = info["pipeline"]
        self.dataset_meta: dict[str, Any] = info["dataset_meta"]
        self.flip_test: bool = bool(info["flip_test"])
        self.outputs: list[str] = info["outputs"]
        if self.outputs == ["heatmaps"] and codec is None:
            raise ConfigError(
                f"{self.path} outputs heatmaps ({info.get('codec')} is decoded outside the graph): give the "
                "experiment config too, so its codec can decode them"
            )
        self.codec = codec
        self.keep: list[int] | None = info.get("output_keypoint_indices")
        batch = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None

    def _run(self, x: np.ndarray) -> list[np.ndarray]:
        if self.fixed_batch is None:
            return self.session.run(None, {"input": x})
        b, n = self.fixed_batch, len(x)
        chunks = []
        for start in range(0, n, b):
            part = x[start : start + b]
            if len(part) < b:
                part = np.concatenate([part, np.zeros((b - len(part), *x.shape[1:]), x.dtype)])
            chunks.append(self.session.run(None, {"input": part}))
        return [np.concatenate([c[i] for c in chunks])[:n] for i in range(len(self.outputs))]

    def __call__(self, inputs: Tensor, samples: list[PoseSample]) -> tuple[np.ndarray, np.ndarray]:
        """``(B, 3, H, W)`` crops -> ``keypoints (B, K, 2)`` in image pixels and ``scores (B, K)``."""
        outputs = self._run(np.ascontiguousarray(inputs.numpy(), dtype=np.float32))
        if self.outputs == ["heatmaps"]:
            decoded = [self.codec.decode(h) for h in outputs[0]]
            keypoints = np.concatenate([k for k, _ in decoded]).astype(np.float32)
            scores = np.concatenate([s for _, s in decoded]).astype(np.float32)
            if self.keep is not None:
                keypoints, scores = keypoints[:, self.keep], scores[:, self.keep]
        else:
            keypoints, scores = outputs
        return input_to_image_batch(keypoints, samples).astype(np.float32), scores
