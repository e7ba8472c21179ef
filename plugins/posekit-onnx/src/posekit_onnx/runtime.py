"""The onnxruntime backend of inference (the ``onnx`` entry of ``posekit.backends``).

It runs a file written by :func:`posekit_onnx.export_onnx`. Top-down files (:class:`OnnxTopdown`):
the crops go in, keypoints in model-input pixels come out (or the head's raw outputs, decoded here
with the head's codec, rebuilt through the registry from the config the file records) and are
mapped back to the image with each crop's center and scale. Whole-image files of heads that find
people themselves (:class:`OnnxImage`): every candidate person comes out, and the head's
``export_select`` (found through the registry by the head's recorded name) keeps people as its
``predict`` does, with the file's ``test_cfg``. The file's ``posekit`` metadata gives the request
kind, the test pipeline, the keypoint definition, the flip setting, the codec and the test switches.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from posekit.errors import ConfigError
from posekit.structures import InstanceData, PoseBatch, PoseResult, PoseSample, TestCfg

#: the ONNX metadata key holding what the backend needs (a JSON object)
METADATA_KEY = "posekit"


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
        raise ConfigError(
            "the onnxruntime backend needs onnxruntime: pip install posekit-onnx (it depends on onnxruntime)"
        ) from e
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = num_threads
    available = ort.get_available_providers()
    chosen = providers or tuple(p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available)
    return ort.InferenceSession(os.fspath(path), options, providers=list(chosen))


def _metadata(raw: str | None, path: str) -> dict[str, Any]:
    if raw is None:
        raise ConfigError(f"{path} has no posekit metadata: export it with `posekit export`")
    return json.loads(raw)


def file_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``posekit`` metadata of an exported file (read with ``onnx``, no session)."""
    import onnx

    props = {p.key: p.value for p in onnx.load(os.fspath(path), load_external_data=False).metadata_props}
    return _metadata(props.get(METADATA_KEY), os.fspath(path))


class OnnxFile:
    """An exported file's session and metadata (what every serving of it needs).

    Args:
        path: the ``.onnx`` file from ``posekit export``.
        providers: onnxruntime execution providers (default: CUDA when available, else CPU).
        num_threads: intra-op threads (0: all cores).
    """

    def __init__(
        self, path: str | os.PathLike[str], providers: tuple[str, ...] | None = None, num_threads: int = 0
    ) -> None:
        self.path = os.fspath(path)
        self.session = ort_session(path, providers, num_threads)
        self.info: dict[str, Any] = _metadata(
            self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY), self.path
        )
        info = self.info
        self.request: str = info.get("request", "image+boxes")
        self.pipeline: list[dict[str, Any]] = info["pipeline"]
        self.dataset_meta: dict[str, Any] = info["dataset_meta"]
        self.flip_test: bool = bool(info["flip_test"])
        self.outputs: list[str] = info["outputs"]
        self.decoded: bool = bool(info.get("decoded", self.outputs == ["keypoints", "scores"]))
        self.keep: list[int] | None = info.get("output_keypoint_indices")
        shape = self.session.get_inputs()[0].shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) else None
        self.input_hw: tuple[int, int] = (int(shape[2]), int(shape[3]))


class OnnxTopdown(OnnxFile):
    """Top-down inference with an exported ONNX file.

    Args:
        path: the ``.onnx`` file from ``posekit export``.
        codec: decodes a file that outputs the head's raw outputs; default: built from the codec
            config the file records (a codec given here, e.g. from the experiment, takes precedence).
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
        super().__init__(path, providers, num_threads)
        self.codec = None if self.decoded else (codec or self._build_codec(self.info.get("codec")))

    def _build_codec(self, cfg: dict[str, Any] | None) -> Any:
        if cfg is None:
            raise ConfigError(
                f"{self.path} outputs the raw outputs of {self.outputs} and records no codec config: give the "
                "experiment config too, so its codec can decode them"
            )
        from posekit.registry import build

        return build("codec", cfg, where=f"{self.path}: metadata {METADATA_KEY}.codec")

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

    def decode(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The file's outputs -> ``keypoints (B, K, 2)`` in input pixels and ``scores (B, K)``.

        Raw outputs go through the codec's ``batch_decode`` (a ``(scores, visibility)`` pair keeps
        the scores), then ``output_keypoint_indices``.
        """
        if self.decoded:
            return outputs[0], outputs[1]
        decoded = self.codec.batch_decode(*outputs)
        keypoints = np.concatenate([k[..., :2] for k, _ in decoded]).astype(np.float32)
        scores = np.concatenate([s[0] if isinstance(s, tuple) else s for _, s in decoded]).astype(np.float32)
        if self.keep is not None:
            keypoints, scores = keypoints[:, self.keep], scores[:, self.keep]
        return keypoints, scores

    def __call__(self, inputs: Tensor, samples: list[PoseSample]) -> tuple[np.ndarray, np.ndarray]:
        """``(B, 3, H, W)`` crops -> ``keypoints (B, K, 2)`` in image pixels and ``scores (B, K)``."""
        from posekit.estimators.base import input_to_image_batch

        keypoints, scores = self.decode(self._run(np.ascontiguousarray(inputs.numpy(), dtype=np.float32)))
        return input_to_image_batch(keypoints, samples).astype(np.float32), scores


class OnnxImage(OnnxFile):
    """Whole-image inference with an exported file of candidate people (a head with ``export_select``).

    Each image's candidates come out of the graph; the head's ``export_select`` keeps people as its
    ``predict`` does (``test_cfg``: the file's, e.g. ``score_thr`` and ``nms_thr``), and they are mapped
    back to the image as the estimator maps them.

    Args:
        path: the ``.onnx`` file from ``posekit export``.
        test_cfg: the test switches after the graph; default: those the file was exported with.
        providers: onnxruntime execution providers (default: CUDA when available, else CPU).
        num_threads: intra-op threads (0: all cores).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        test_cfg: TestCfg | None = None,
        providers: tuple[str, ...] | None = None,
        num_threads: int = 0,
    ) -> None:
        from posekit.registry import get

        super().__init__(path, providers, num_threads)
        if self.info.get("layout") != "candidates":
            raise ConfigError(
                f"{self.path}: its head ({self.info.get('head')}) exports no candidate people (no export_select), "
                "so onnxruntime cannot serve whole images with it; serve the torch checkpoint instead"
            )
        self.head = get("head", self.info["head"])
        self.test_cfg = test_cfg if test_cfg is not None else TestCfg.model_validate(self.info["test_cfg"])
        self.input_size = (self.input_hw[1], self.input_hw[0])

    def select(self, inputs: np.ndarray) -> list[InstanceData]:
        """``(B, 3, H, W)`` float32 images (the graph's size) -> per image, its people in input pixels."""
        if tuple(inputs.shape[2:]) != self.input_hw:
            raise ConfigError(
                f"{self.path} takes {self.input_hw[1]}x{self.input_hw[0]} images; the test pipeline gave "
                f"{inputs.shape[3]}x{inputs.shape[2]}: resize to the exported size (e.g. BottomupResize with "
                "resize_mode='fit')"
            )
        outputs = [torch.from_numpy(o) for o in self.session.run(None, {"input": inputs})]
        people = self.head.export_select(outputs, self.test_cfg, self.input_size)
        if self.keep is not None:
            for p in people:
                p.keypoints, p.keypoint_scores = p.keypoints[:, self.keep], p.keypoint_scores[:, self.keep]
                if p.keypoints_visible is not None:
                    p.keypoints_visible = p.keypoints_visible[:, self.keep]
        return people

    def __call__(self, inputs: Tensor, samples: list[PoseSample]) -> list[PoseResult]:
        """``(B, 3, H, W)`` uint8 images -> one result per image, people in original image pixels."""
        from posekit.estimators.base import people_to_image, to_result

        results = []
        for i, sample in enumerate(samples):  # one image per run: a file's batch may be fixed at 1
            (pred,) = self.select(np.ascontiguousarray(inputs[i : i + 1].numpy(), dtype=np.float32))
            bboxes, scores = people_to_image(pred, sample)
            results.append(to_result(pred, sample, bboxes, scores))
        return results


def onnx_serving(
    checkpoint: str | os.PathLike[str], *, codec: Any = None, flip_test: bool | None = None, num_threads: int = 0
) -> Any:
    """The ``onnx`` serving backend: a :class:`~posekit.protocols.serving.Serving` of an exported file.

    ``posekit.Inferencer`` calls it for a ``.onnx`` checkpoint (found through the entry-point group
    ``posekit.backends`` by the file's suffix). A file of crops is served top-down (``"image+boxes"``:
    posekit-topdown's ``TopdownServing`` running :class:`OnnxTopdown`), a file of whole images
    (``"image"``: posekit-bottomup's ``ImageServing`` running :class:`OnnxImage`); both found through the
    registry (``posekit.servings``).

    Args:
        checkpoint: the ``.onnx`` file from ``posekit export``.
        codec: decodes raw outputs (from the experiment's ``model.head.decoder``); default: the file's.
        flip_test: must equal the file's flip setting when given (it is baked into the graph).
        num_threads: onnxruntime intra-op threads (0: all cores).
    """
    from posekit.registry import get

    if file_metadata(checkpoint).get("request") == "image":
        image = OnnxImage(checkpoint, num_threads=num_threads)
        if flip_test:
            raise ConfigError(f"{checkpoint} serves whole images, exported without the flip test")
        return get("serving", "ImageServing").from_backend(image, image.pipeline, image.dataset_meta)
    backend = OnnxTopdown(checkpoint, codec=codec, num_threads=num_threads)
    if flip_test is not None and flip_test != backend.flip_test:
        raise ConfigError(
            f"{checkpoint} was exported with flip_test={backend.flip_test}; re-export it with "
            f"`posekit export ... {'--flip-test' if flip_test else '--no-flip-test'}`"
        )
    return get("serving", "TopdownServing").from_backend(backend, backend.pipeline, backend.dataset_meta)


def _whole_crop_samples(crops: Tensor, flip_indices: list[int]) -> list[PoseSample]:
    """One sample per crop, the crop covering its whole image (image pixels are input pixels)."""
    h, w = crops.shape[-2:]
    return [
        PoseSample(
            input_size=(w, h),
            input_center=np.array([w / 2, h / 2], np.float32),
            input_scale=np.array([w, h], np.float32),
            flip_indices=flip_indices,
        )
        for _ in range(len(crops))
    ]


def torch_predict(model: nn.Module, crops: Tensor, flip_test: bool) -> tuple[np.ndarray, np.ndarray]:
    """The estimator's own ``predict`` of whole-image crops: ``keypoints (B, K, 2)`` in input pixels, ``scores (B, K)``.

    Args:
        model: a top-down estimator in eval mode with its ``dataset_meta``.
        crops: ``(B, 3, H, W)`` uint8 BGR crops of the model's input size.
        flip_test: the flip setting to predict with (the model's ``test_cfg`` is restored after).
    """
    samples = _whole_crop_samples(crops, [int(i) for i in model.dataset_meta["flip_indices"]])
    test_cfg = model.test_cfg
    model.test_cfg = test_cfg.model_copy(update={"flip_test": flip_test})
    try:
        with torch.inference_mode():
            batch = model.data_preprocessor(PoseBatch(inputs=crops, targets={}, samples=samples))
            results = model(batch.inputs, batch, mode="predict")
    finally:
        model.test_cfg = test_cfg
    keypoints = np.concatenate([r.keypoints[..., :2] for r in results])
    return keypoints, np.concatenate([r.keypoint_scores for r in results])


def compare_with_torch(
    model: nn.Module, path: str | os.PathLike[str], crops: Tensor | None = None, seed: int = 0
) -> tuple[float, float]:
    """How far an exported file's decoded results are from the estimator's own ``predict``.

    The crops go through :class:`OnnxTopdown` (decoding included) and :func:`torch_predict` (with
    the file's flip setting), each crop covering its whole image.

    Args:
        model: the estimator the file was exported from (eval mode, its ``dataset_meta`` set).
        path: the ``.onnx`` file.
        crops: ``(B, 3, H, W)`` uint8 BGR crops of the model's input size; default: 3 random ones.
            Decoders that refine the maximum (DARK, UDP) divide by a curvature: their keypoints
            amplify the graph's float differences where a maximum is flat.
        seed: the random crops' seed (default 0).

    Returns:
        the largest keypoint difference in input pixels and the largest score difference
        relative to the largest torch score.
    """
    backend = OnnxTopdown(path)
    if crops is None:
        h, w = backend.session.get_inputs()[0].shape[2:]
        crops = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (3, 3, h, w), dtype=np.uint8))
    got_k, got_s = backend(crops.float(), _whole_crop_samples(crops, []))
    ref_k, ref_s = torch_predict(model, crops, backend.flip_test)
    return float(np.abs(got_k - ref_k).max()), float(np.abs(got_s - ref_s).max() / max(np.abs(ref_s).max(), 1e-12))
