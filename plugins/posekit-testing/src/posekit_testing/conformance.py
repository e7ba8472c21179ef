"""Per-kind protocol checks, usable from any plugin's test suite.

Each ``check_*`` builds the component through the registry (so the entry point and the
typed constructor are exercised too), runs it on small random inputs, asserts the
protocol, and returns the built component for further checks.
"""

from __future__ import annotations

import copy
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posekit.errors import ConfigError
from posekit.registry import build, validate


def shared_dir() -> Path | None:
    """The reference folder ``shared/`` beside the repository (or ``$POSEKIT_SHARED``)."""
    env = os.environ.get("POSEKIT_SHARED")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    for base in (Path.cwd().resolve(), here):
        candidates += [p / "shared" for p in (base, *base.parents)]
    for c in candidates:
        if (c / "fixtures" / "mmpose").is_dir():
            return c
    return None


def _check_config_validation(kind: str, cfg: Mapping[str, Any]) -> None:
    """An unknown argument must be refused with a message naming it."""
    bad = {**cfg, "no_such_argument_": 1}
    try:
        validate(kind, bad)
    except ConfigError as e:
        assert "no_such_argument_" in str(e), f"{kind} {cfg['type']}: the error does not name the bad field: {e}"
    else:
        raise AssertionError(
            f"{kind} {cfg['type']} accepted an unknown argument: its constructor takes **kwargs; "
            "declare typed keyword arguments instead"
        )


def _state_dict_round_trip(kind: str, cfg: Mapping[str, Any], module: Any) -> Any:
    """Save and load the state_dict into a fresh build (strict) and return the copy."""
    import torch

    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    buf.seek(0)
    fresh = build(kind, copy.deepcopy(dict(cfg)))
    fresh.load_state_dict(torch.load(buf, weights_only=True), strict=True)
    return fresh


def _assert_feats(name: str, out: Any) -> None:
    import torch

    assert isinstance(out, tuple), f"{name}.forward must return a tuple of tensors, got {type(out).__name__}"
    assert out, f"{name}.forward returned an empty tuple"
    for i, t in enumerate(out):
        assert isinstance(t, torch.Tensor), f"{name} output {i} is {type(t).__name__}, not a Tensor"
        assert torch.isfinite(t).all(), f"{name} output {i} has non-finite values"


def check_backbone(cfg: Mapping[str, Any], input_shape: Sequence[int] = (2, 3, 64, 64)) -> Any:
    """Tuple-of-features output, finite, batch preserved, state_dict round trip, config validation."""
    import torch

    from posekit.protocols import BaseBackbone

    model = build("backbone", copy.deepcopy(dict(cfg)))
    assert isinstance(model, BaseBackbone), f"{cfg['type']} must subclass posekit.protocols.BaseBackbone"
    torch.manual_seed(0)
    x = torch.randn(*input_shape)
    model.eval()
    with torch.no_grad():
        out = model(x)
    _assert_feats(cfg["type"], out)
    for t in out:
        assert t.shape[0] == input_shape[0], f"{cfg['type']} changed the batch size: {tuple(t.shape)}"
    fresh = _state_dict_round_trip("backbone", cfg, model).eval()
    with torch.no_grad():
        again = fresh(x)
    for a, b in zip(out, again, strict=True):
        torch.testing.assert_close(a, b, msg=f"{cfg['type']}: outputs differ after a state_dict round trip")
    model.train()
    model(x)  # train mode runs too
    _check_config_validation("backbone", cfg)
    return model


def check_neck(cfg: Mapping[str, Any], feat_shapes: Sequence[Sequence[int]], batch_size: int = 2) -> Any:
    """Tuple in, tuple out, finite, config validation."""
    import torch

    from posekit.protocols import BaseNeck

    neck = build("neck", copy.deepcopy(dict(cfg)))
    assert isinstance(neck, BaseNeck), f"{cfg['type']} must subclass posekit.protocols.BaseNeck"
    feats = tuple(torch.randn(batch_size, *s) for s in feat_shapes)
    out = neck(feats)
    _assert_feats(cfg["type"], out)
    _check_config_validation("neck", cfg)
    return neck


def _random_keypoints(rng: np.random.Generator, n: int, k: int, size: Sequence[float], margin: float) -> np.ndarray:
    w, h = float(size[0]), float(size[1])
    lo = np.array([w * margin, h * margin])
    hi = np.array([w * (1 - margin), h * (1 - margin)])
    return (lo + rng.random((n, k, 2)) * (hi - lo)).astype(np.float32)


def check_codec(
    cfg: Mapping[str, Any],
    *,
    num_instances: int = 1,
    num_keypoints: int = 17,
    tol: float | None = None,
    seed: int = 0,
) -> Any:
    """Round trip: ``decode_targets(encode(x))`` recovers the visible keypoints within ``tol``.

    Keypoints are drawn inside the codec's ``input_size`` (with a 10% margin). The default
    ``tol`` is one target-resolution step in input pixels (``input_size / heatmap_size``).
    """
    from posekit.protocols import BaseKeypointCodec

    codec = build("codec", copy.deepcopy(dict(cfg)))
    assert isinstance(codec, BaseKeypointCodec), f"{cfg['type']} must subclass posekit.protocols.BaseKeypointCodec"
    rng = np.random.default_rng(seed)
    size = getattr(codec, "input_size", (192, 256))
    kpts = _random_keypoints(rng, num_instances, num_keypoints, size, margin=0.1)
    vis = np.ones((num_instances, num_keypoints), np.float32)
    vis[:, 0] = 0  # one invisible keypoint per instance
    encoded = codec.encode(kpts, vis)
    assert isinstance(encoded, dict) and encoded, f"{cfg['type']}.encode must return a non-empty dict"
    for key, val in encoded.items():
        assert isinstance(val, np.ndarray | np.generic | bool | int | float | dict), (
            f"{cfg['type']}.encode()[{key!r}] is {type(val).__name__}"
        )
    decoded, scores = codec.decode_targets(encoded)
    assert decoded.shape[:2] == (num_instances, num_keypoints), (
        f"{cfg['type']}.decode_targets keypoints shape {decoded.shape}, expected ({num_instances}, {num_keypoints}, D)"
    )
    assert scores.shape == (num_instances, num_keypoints), f"{cfg['type']} scores shape {scores.shape}"
    if tol is None:
        hm = getattr(codec, "heatmap_size", None)
        tol = float(max(np.asarray(size, float) / np.asarray(hm, float))) if hm is not None else 1.0
    err = np.abs(decoded[..., :2] - kpts)[vis > 0]
    assert err.max() <= tol, f"{cfg['type']}: round trip error {err.max():.4f} px exceeds {tol:.4f} px"
    _check_config_validation("codec", cfg)
    return codec


def check_loss(cfg: Mapping[str, Any], pred: Any, target: Any, target_weight: Any = None) -> Any:
    """A finite scalar loss with finite, non-zero gradients w.r.t. ``pred``."""
    import torch

    loss_fn = build("loss", copy.deepcopy(dict(cfg)))
    pred = pred.detach().clone().requires_grad_(True)
    args = (pred, target) if target_weight is None else (pred, target, target_weight)
    value = loss_fn(*args)
    assert isinstance(value, torch.Tensor) and value.ndim == 0, f"{cfg['type']} must return a scalar tensor"
    assert torch.isfinite(value), f"{cfg['type']} returned {value.item()}"
    value.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all(), f"{cfg['type']}: non-finite gradient"
    assert pred.grad.abs().sum() > 0, f"{cfg['type']}: gradient is zero everywhere"
    _check_config_validation("loss", cfg)
    return loss_fn


def random_topdown_batch(
    codec: Any,
    batch_size: int = 2,
    num_keypoints: int = 17,
    seed: int = 0,
    flip_indices: Sequence[int] | None = None,
) -> Any:
    """A collated top-down :class:`PoseBatch` of random crops, targets encoded by ``codec``.

    Inputs are ``(B, 3, h, w)`` uint8 noise at the codec's ``input_size``; each sample holds
    one instance with ``num_keypoints`` visible keypoints and identity crop geometry, and
    ``flip_indices`` (default: every keypoint its own mirror).
    """
    import torch

    from posekit.data import pose_collate
    from posekit.structures import PoseSample

    rng = np.random.default_rng(seed)
    size = tuple(getattr(codec, "input_size", (192, 256)))
    k = num_keypoints
    samples = []
    for i in range(batch_size):
        kpts = _random_keypoints(rng, 1, k, size, margin=0.1)
        vis = np.ones((1, k), np.float32)
        w, h = float(size[0]), float(size[1])
        s = PoseSample(
            img_id=i,
            id=i,
            keypoints=kpts,
            keypoints_visible=vis,
            input_size=(int(w), int(h)),
            input_center=np.array([w / 2, h / 2], np.float32),
            input_scale=np.array([w, h], np.float32),
            bbox=np.array([[0, 0, w, h]], np.float32),
            bbox_score=np.ones(1, np.float32),
            flip_indices=list(range(k)) if flip_indices is None else list(flip_indices),
        )
        s.targets = codec.encode(kpts, vis)
        s.inputs = torch.from_numpy(rng.integers(0, 256, (3, int(h), int(w)), dtype=np.uint8))
        samples.append(s)
    return pose_collate(samples)


def check_head(
    cfg: Mapping[str, Any],
    feat_shapes: Sequence[Sequence[int]],
    *,
    batch: Any = None,
    batch_size: int = 2,
    num_keypoints: int | None = None,
    seed: int = 0,
) -> Any:
    """forward, loss (keys, finiteness, gradients), predict (one decoded sample each), flip test.

    ``feat_shapes`` are per-sample ``(C, H, W)`` shapes of the features the head takes.
    Without ``batch``, targets are encoded by the head's own decoder from ``num_keypoints`` random
    keypoints (default: the head's ``out_channels``, else 17).
    """
    import torch

    from posekit.protocols import BaseHead
    from posekit.structures import InstanceData, TestCfg, TrainCfg

    head = build("head", copy.deepcopy(dict(cfg)))
    assert isinstance(head, BaseHead), f"{cfg['type']} must subclass posekit.protocols.BaseHead"
    if batch is None:
        assert head.codec is not None, "check_head needs a head with a decoder, or an explicit batch"
        k = num_keypoints or int(getattr(head, "out_channels", 17))
        batch = random_topdown_batch(head.codec, batch_size, k, seed)
    n = len(batch)
    torch.manual_seed(seed)
    feats = tuple(torch.randn(n, *s) for s in feat_shapes)
    head.train()
    losses = head.loss(feats, batch, TrainCfg())
    assert isinstance(losses, dict) and any(k.startswith("loss") for k in losses), (
        f"{cfg['type']}.loss must return a dict with at least one 'loss*' key, got {list(losses)}"
    )
    total = sum(v for k, v in losses.items() if k.startswith("loss"))
    assert torch.isfinite(total), f"{cfg['type']}: loss is not finite: { {k: float(v) for k, v in losses.items()} }"
    total.backward()
    grads = [p.grad for p in head.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), f"{cfg['type']}: no parameter got a gradient"
    head.eval()
    with torch.no_grad():
        for test_cfg in (TestCfg(), TestCfg(flip_test=True)):
            inp = (feats, tuple(f.flip(-1) for f in feats)) if test_cfg.flip_test else feats
            preds = head.predict(inp, batch, test_cfg)
            assert isinstance(preds, list) and len(preds) == n, f"{cfg['type']}.predict must return one item per sample"
            for p in preds:
                assert isinstance(p, InstanceData), f"{cfg['type']}.predict items must be InstanceData"
                assert p.keypoints.ndim == 3 and p.keypoint_scores.shape == p.keypoints.shape[:2], (
                    f"{cfg['type']}.predict shapes: keypoints {p.keypoints.shape}, scores {p.keypoint_scores.shape}"
                )
                assert np.isfinite(p.keypoints).all(), f"{cfg['type']}.predict returned non-finite keypoints"
    _state_dict_round_trip("head", cfg, head)
    _check_config_validation("head", cfg)
    return head


def check_estimator(cfg: Mapping[str, Any], batch: Any) -> Any:
    """The three modes: loss (finite, backward), predict (one result per sample), tensor."""
    import torch

    from posekit.protocols import BasePoseEstimator
    from posekit.structures import PoseResult

    model = build("estimator", copy.deepcopy(dict(cfg)))
    assert isinstance(model, BasePoseEstimator), f"{cfg['type']} must subclass posekit.protocols.BasePoseEstimator"
    model.train()
    batch = model.data_preprocessor(batch, True)
    inputs = batch.inputs
    losses = model(inputs, batch, mode="loss")
    total = sum(v for k, v in losses.items() if k.startswith("loss"))
    assert torch.isfinite(total), f"{cfg['type']}: loss is not finite"
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model(inputs, batch, mode="predict")
        assert len(results) == len(batch) and all(isinstance(r, PoseResult) for r in results)
        out = model(inputs, batch, mode="tensor")
        assert out is not None
    return model


def check_train_then_infer(cfg: Mapping[str, Any], work_dir: Path, batch_size: int = 2) -> dict[str, Any]:
    """A top-down model trains one step (:func:`check_estimator`, gradients reach the backbone), is saved,
    and runs through ``posekit infer`` in a fresh process on one 120x100 image with one box.

    Args:
        cfg: a ``TopdownPoseEstimator`` model dict whose head has a ``decoder`` codec (17 keypoints).
        work_dir: an empty folder for the checkpoint, config, image and predictions.
        batch_size: training batch size. Default 2.

    Returns:
        the one predicted instance of ``predictions/person.json`` (``keypoints`` (17, 2), ``bbox``).
    """
    import json
    import subprocess
    import sys

    import cv2
    import torch

    codec = build("codec", copy.deepcopy(dict(cfg["head"]["decoder"])))
    model = check_estimator(cfg, random_topdown_batch(codec, batch_size=batch_size))
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads), f"{cfg['backbone']['type']}: no gradient"
    assert all(g is None or bool(torch.isfinite(g).all()) for g in grads), "non-finite backbone gradients"

    torch.save({"state_dict": model.state_dict()}, work_dir / "model.pth")
    (work_dir / "model.json").write_text(json.dumps(cfg))
    image = np.random.default_rng(0).integers(0, 256, (120, 100, 3), np.uint8)
    cv2.imwrite(str(work_dir / "person.png"), image)
    cmd = [sys.executable, "-m", "posekit", "infer", str(work_dir / "model.json")]
    cmd += ["--checkpoint", str(work_dir / "model.pth"), "--input", str(work_dir / "person.png")]
    cmd += ["--out", str(work_dir / "out"), "--bbox", "10", "10", "70", "90"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, f"posekit infer failed: {done.stderr}"
    prediction = json.loads((work_dir / "out" / "predictions" / "person.json").read_text())
    (instance,) = prediction["instances"]
    keypoints = np.array(instance["keypoints"])
    assert keypoints.shape == (17, 2) and np.isfinite(keypoints).all(), keypoints
    assert instance["bbox"] == [10.0, 10.0, 70.0, 90.0]
    return instance


#: kinds whose construction reads user files (annotation files, ONNX models): imported, never built
FILE_KINDS = frozenset({"dataset", "detector"})
#: kinds built around a model instance (servings): imported, never built from a config
BOUND_KINDS = frozenset({"serving"})


def example_config(kind: str, name: str) -> dict[str, Any] | None:
    """``{"type": dist:name, **example}`` from the component's ``example_config``, or None.

    None when the component is not a class, or when it needs arguments and declares no
    ``example_config`` (a class attribute: the keyword arguments of a small working instance).
    """
    import inspect

    from posekit.registry import _signature_model, get, resolve

    obj = get(kind, name)
    if not inspect.isclass(obj):
        return None
    example = copy.deepcopy(dict(getattr(obj, "example_config", None) or {}))
    model = _signature_model(obj)
    if any(f.is_required() and n not in example for n, f in model.model_fields.items()):
        return None
    return {"type": resolve(kind, name).qualified, **example}


def check_component(kind: str, name: str) -> str:
    """Check installed component ``name`` of ``kind`` from its declared ``example_config``.

    Backbones, necks, heads and codecs run their kind's full check (with the class's
    optional ``example_inputs``: keyword arguments of that check such as ``feat_shapes``, or a
    classmethod returning them, e.g. with a ``batch`` of the paradigm's own targets);
    the other kinds are built and must refuse an unknown argument. Returns what was done.
    """
    import inspect

    from posekit.registry import _signature_model, get

    obj = get(kind, name)
    if kind in FILE_KINDS | BOUND_KINDS or kind == "metainfo" or not inspect.isclass(obj):
        return "imported"
    cfg = example_config(kind, name)
    if cfg is None:
        required = [n for n, f in _signature_model(obj).model_fields.items() if f.is_required()]
        raise AssertionError(
            f"{kind} {name} needs {', '.join(required)} to build and declares no example_config: add a class "
            f"attribute example_config = {{...}} with a small working configuration"
        )
    inputs = getattr(obj, "example_inputs", None) or {}
    inputs = dict(inputs() if callable(inputs) else inputs)
    checks = {"backbone": check_backbone, "neck": check_neck, "head": check_head, "codec": check_codec}
    if kind in checks:
        if kind in ("neck", "head") and "feat_shapes" not in inputs:
            raise AssertionError(f"{kind} {name}: declare example_inputs = {{'feat_shapes': [(C, H, W), ...]}}")
        checks[kind](cfg, **inputs)
        return "conformance"
    build(kind, copy.deepcopy(cfg))
    _check_config_validation(kind, cfg)
    return "built"
