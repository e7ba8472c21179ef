"""MMPose 1.3.2's own training step, timed on request: the baseline of ``train_step.py --mmpose PYTHON``.

Run by ``train_step.py`` with the Python of a separate environment holding MMPose
(``benchmarks/mmpose_env.sh`` makes one); it needs nothing from posekit. Commands arrive on stdin,
one JSON object per line, and each gets one JSON line back on stdout:

- ``{"model": {...}, "batch": 8, "input_size": [192, 256], "seed": 0}``: build the model with
  MMPose's registry from the same model dict posekit reads (``init_weights`` as MMPose's runner
  does), an ``AdamW(lr=5e-4, weight_decay=0.01)``, and one batch of random uint8 crops whose targets
  come from MMPose's own ``GenerateTarget`` and ``PackPoseInputs``; answers ``{"params": N}``.
- ``{"steps": n}``: n training steps (``data_preprocessor`` -> ``model(mode="loss")`` -> backward ->
  ``AdamW.step``); answers ``{"ms": [...], "faults": [...]}``, each step's wall time and minor page faults.
- ``{"backbone": {...}, "input": [3, 256, 192], "batches": [1, 8], "warmup": 2, "reps": 10}``: an MMPose
  backbone's eval-mode forward (``torch.inference_mode``), for ``models.py --mmpose PYTHON``; answers
  ``{"params": N, "ms": {"1": median, "8": median}}``.
- ``{"topdown": {...}, "checkpoint": PATH, "image": PATH}``: MMPose's ``init_model`` of that model dict and
  checkpoint (test pipeline: ``LoadImage``, ``GetBBoxCenterScale``, ``TopdownAffine`` at the codec's input
  size, ``PackPoseInputs``; COCO's keypoint definition) and the image loaded once with ``cv2``; answers
  ``{"params": N}``. Then ``{"boxes": [[x1, y1, x2, y2], ...]}``: one ``inference_topdown`` of the loaded
  image, for ``inference.py``; answers ``{"ms": wall time, "keypoints": (N, K, 2), "scores": (N, K)}``.

mmcv-lite ships no compiled ops, yet ``import mmpose.models`` imports ``mmcv.ops`` (for heads this
benchmark never builds). A stand-in ``mmcv._ext`` lets that import through; calling any of its
functions raises. A backbone under mmpretrain's scope (ViTPose's ``mmpretrain.VisionTransformer``)
imports mmpretrain through :func:`import_mmpretrain`.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import json
import os
import resource
import sys
import time
import types
from typing import Any


def _stand_in_for_compiled_ops() -> None:
    ext = types.ModuleType("mmcv._ext")

    def missing(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> None:
            raise NotImplementedError(f"mmcv-lite has no compiled op {name}")

        return call

    ext.__getattr__ = missing  # type: ignore[method-assign]
    ext.__spec__ = importlib.machinery.ModuleSpec("mmcv._ext", None)  # found, with no loader: "no mmcv-full"
    sys.modules["mmcv._ext"] = ext


class _TorchvisionStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Empty ``torchvision.*`` modules whose attributes are placeholder classes (no CPU torchvision here)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__path__ = []

        def attr(name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            return type(name, (), {})

        module.__getattr__ = attr  # type: ignore[method-assign]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def import_mmpretrain() -> None:
    """Import ``mmpretrain.models`` (registers its backbones under the ``mmpretrain`` scope): its torchvision
    imports get empty stand-ins (none of that code runs), its inference APIs (other dependencies) are left out."""
    sys.modules.setdefault("importlib_metadata", importlib.metadata)
    sys.modules.setdefault("mmpretrain.apis", types.ModuleType("mmpretrain.apis"))
    if not any(isinstance(f, _TorchvisionStandIn) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionStandIn())
    import mmpretrain.models  # noqa: F401


class Trainee:
    """An MMPose estimator, its optimizer and one packed batch."""

    def __init__(self, model_cfg: dict[str, Any], batch: int, input_size: tuple[int, int], seed: int) -> None:
        import numpy as np
        import torch
        from mmengine.dataset import pseudo_collate
        from mmengine.registry import init_default_scope
        from mmpose.datasets.transforms import GenerateTarget, PackPoseInputs
        from mmpose.registry import MODELS

        init_default_scope("mmpose")
        torch.manual_seed(seed)
        self.model = MODELS.build(model_cfg)
        self.model.init_weights()
        self.model.train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=5e-4, weight_decay=0.01)
        rng = np.random.default_rng(seed)
        w, h = input_size
        generate, pack = GenerateTarget(encoder=model_cfg["head"]["decoder"]), PackPoseInputs()
        samples = []
        for _ in range(batch):
            results = {
                "img": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                "keypoints": (rng.uniform(0.1, 0.9, (1, 17, 2)) * (w, h)).astype(np.float32),
                "keypoints_visible": np.ones((1, 17), np.float32),
                "input_size": (w, h),
            }
            samples.append(pack(generate(results)))
        self.data = pseudo_collate(samples)

    def step(self) -> None:
        self.optimizer.zero_grad()
        data = self.model.data_preprocessor(self.data, training=True)
        losses = self.model(**data, mode="loss")
        sum(value for key, value in losses.items() if "loss" in key).backward()
        self.optimizer.step()


def mmpose_models(mmpretrain: bool = False) -> Any:
    """MMPose's ``MODELS`` registry for the fixture generators (they load this file): mmcv-lite's compiled ops
    stood in, every MMPose model registered, ``mmpose`` the default scope (with ``mmpretrain``: its backbones
    too, through :func:`import_mmpretrain`)."""
    _stand_in_for_compiled_ops()
    if mmpretrain:
        import_mmpretrain()
    import mmpose.models  # noqa: F401  (registers the models)
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    init_default_scope("mmpose")
    return MODELS


def randomize_batchnorm(module: Any, g: Any) -> bool:
    """When ``module`` is a BatchNorm: its affine weight U(0.5, 1.5) and bias N(0, 0.1^2), running mean N(0, 0.1^2)
    and variance U(0.5, 1.5), drawn from the generator ``g`` in that order (so loading them matters); whether it
    was one."""
    import torch

    if not isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
        return False
    n = module.num_features
    module.weight.data = torch.rand(n, generator=g) + 0.5
    module.bias.data = torch.randn(n, generator=g) * 0.1
    module.running_mean = torch.randn(n, generator=g) * 0.1
    module.running_var = torch.rand(n, generator=g) + 0.5
    return True


def tensors(obj: Any) -> Any:
    """``obj`` with numpy arrays as tensors and numpy scalars as floats, through dicts, lists and tuples: what a
    generator's ``torch.save`` needs for ``torch.load(weights_only=True)``."""
    import numpy as np
    import torch

    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: tensors(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(tensors(v) for v in obj)
    return obj


def time_backbone(cmd: dict[str, Any]) -> dict[str, Any]:
    """Median forward ms of MMPose's backbone ``cmd["backbone"]`` at each batch size."""
    import statistics

    import torch
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    init_default_scope("mmpose")
    if str(cmd["backbone"]["type"]).startswith(("mmpretrain.", "mmcls.")):
        import_mmpretrain()
    torch.manual_seed(0)
    model = MODELS.build(cmd["backbone"])
    model.eval()  # MMPose's backbones' train() returns None
    ms = {}
    with torch.inference_mode():
        for batch in cmd["batches"]:
            x = torch.randn(batch, *cmd["input"])
            for _ in range(cmd["warmup"]):
                model(x)
            times = []
            for _ in range(cmd["reps"]):
                start = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - start) * 1e3)
            ms[str(batch)] = statistics.median(times)
    return {"params": sum(p.numel() for p in model.parameters()), "ms": ms}


def mmpose_inference_api() -> types.ModuleType:
    """MMPose's ``mmpose/apis/inference.py`` (``init_model``, ``inference_topdown``) loaded alone: importing the
    ``mmpose.apis`` package also imports its inferencers, which need setuptools' ``pkg_resources``."""
    import importlib.util

    import mmpose

    path = os.path.join(os.path.dirname(mmpose.__file__), "apis", "inference.py")
    spec = importlib.util.spec_from_file_location("mmpose_apis_inference", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TopdownRunner:
    """MMPose's ``init_model`` + ``inference_topdown`` of one model on one pre-loaded image."""

    def __init__(self, model_cfg: dict[str, Any], checkpoint: str, image: str) -> None:
        import cv2
        from mmengine.config import Config

        codec = model_cfg["head"]["decoder"]
        pipeline = [
            {"type": "LoadImage"},
            {"type": "GetBBoxCenterScale"},
            {"type": "TopdownAffine", "input_size": codec["input_size"], "use_udp": codec.get("use_udp", False)},
            {"type": "PackPoseInputs"},
        ]
        config = Config(
            {
                "model": model_cfg,
                "train_dataloader": {"dataset": {"type": "CocoDataset"}},  # the keypoint definition: COCO's
                "test_dataloader": {"dataset": {"pipeline": pipeline}},
            }
        )
        self.api = mmpose_inference_api()
        self.model = self.api.init_model(config, checkpoint, device="cpu")
        self.img = cv2.imread(image)

    def __call__(self, boxes: list[list[float]]) -> dict[str, Any]:
        import numpy as np

        start = time.perf_counter()
        results = self.api.inference_topdown(self.model, self.img, np.asarray(boxes, np.float32))
        ms = (time.perf_counter() - start) * 1e3
        keypoints = [r.pred_instances.keypoints[0].tolist() for r in results]
        scores = [r.pred_instances.keypoint_scores[0].tolist() for r in results]
        return {"ms": ms, "keypoints": keypoints, "scores": scores}


def main() -> None:
    replies, sys.stdout = sys.stdout, sys.stderr  # MMPose's logging goes to stderr, the protocol to stdout
    if hasattr(os, "sched_setaffinity"):  # a parent under OMP_PROC_BIND is bound to one core, and so are its children
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    _stand_in_for_compiled_ops()
    import mmpose.models  # noqa: F401  (registers MMPose's models)

    trainee: Trainee | None = None
    runner: TopdownRunner | None = None
    reply: dict[str, Any]
    for line in sys.stdin:
        cmd = json.loads(line)
        if "backbone" in cmd:
            reply = time_backbone(cmd)
        elif "topdown" in cmd:
            runner = TopdownRunner(cmd["topdown"], cmd["checkpoint"], cmd["image"])
            reply = {"params": sum(p.numel() for p in runner.model.parameters())}
        elif "boxes" in cmd:
            assert runner is not None, "build a top-down model first"
            reply = runner(cmd["boxes"])
        elif "model" in cmd:
            trainee = Trainee(cmd["model"], cmd["batch"], tuple(cmd["input_size"]), cmd["seed"])
            reply = {"params": sum(p.numel() for p in trainee.model.parameters())}
        else:
            assert trainee is not None, "build a model first"
            times, faults = [], []
            for _ in range(cmd["steps"]):
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                start = time.perf_counter()
                trainee.step()
                times.append((time.perf_counter() - start) * 1e3)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
            reply = {"ms": times, "faults": faults}
        print(json.dumps(reply), file=replies, flush=True)


if __name__ == "__main__":
    main()
