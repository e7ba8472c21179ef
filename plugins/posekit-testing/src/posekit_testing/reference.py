"""Comparing with MMPose's reference numbers (``shared/fixtures/mmpose``) at the documented tolerances."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "assert_backbone_matches_mmpose",
    "assert_close",
    "assert_close_to_max",
    "assert_encode_matches",
    "assert_head_fixture_matches",
    "assert_head_matches_mmpose",
    "assert_metric_close",
    "assert_outputs_match",
    "assert_same",
    "codec_cases",
    "head_fixture",
    "metric_fixture",
    "mmpose_backbone_config",
    "mmpose_estimator",
]


def assert_same(name: str, got: object, ref: np.ndarray, where: str) -> None:
    """``got`` equals the reference ``ref``: exactly for integers and booleans, else rel 1e-5 / abs 1e-6.

    Args:
        name: what is compared (``"decode keypoints"``), for the message.
        got: posekit's value (array-like).
        ref: the reference array.
        where: the fixture it comes from (a file name), for the message.
    """
    got = np.asarray(got)
    assert got.shape == ref.shape, f"{where}: {name} shape {got.shape} != {ref.shape}"
    if ref.dtype.kind in "biu":
        np.testing.assert_array_equal(got, ref, err_msg=f"{where}: {name}")
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6, err_msg=f"{where}: {name}")


def assert_close_to_max(name: str, got: object, ref: np.ndarray, where: str, rel: float = 1e-4) -> None:
    """Network outputs: ``|got - ref| <= rel * max|ref|`` (float32 rounding of deep random nets)."""
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape, f"{where}: {name} shape {got.shape} != {ref.shape}"
    scale = float(np.abs(ref).max())
    err = float(np.abs(got - ref).max())
    assert err <= rel * scale, f"{where}: {name} differs by {err:.3g} > {rel:g} * max|ref| = {rel * scale:.3g}"


def metric_fixture(shared: Path, name: str) -> dict[str, np.ndarray]:
    """The arrays of ``shared/fixtures/mmpose/metrics/NAME`` (MMPose 1.3.2's metric inputs and outputs)."""
    with np.load(shared / "fixtures" / "mmpose" / "metrics" / name, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def assert_metric_close(actual: Any, expected: Any, source: str, rtol: float = 1e-6) -> None:
    """A metric value equals MMPose's to ``rtol`` (relative; 1e-12 absolute for zeros)."""
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-12, err_msg=source)


def assert_outputs_match(outputs: tuple[object, ...], ref_file: Path) -> None:
    """Every ``out_i`` of a reference ``.npz`` (a backbone's or neck's tuple) within 1e-4 * max|ref|."""
    ref = np.load(ref_file, allow_pickle=False)
    assert len(outputs) == len(ref.files), f"{ref_file}: {len(ref.files)} outputs expected, got {len(outputs)}"
    for i, out in enumerate(outputs):
        value = out.detach().cpu().numpy() if hasattr(out, "detach") else out  # type: ignore[union-attr]
        assert_close_to_max(f"out_{i}", value, ref[f"out_{i}"], str(ref_file))


def mmpose_estimator(folder: Path, test_cfg: dict[str, Any] | None = None) -> Any:
    """A model fixture's estimator: ``config.json`` built as it is, ``checkpoint.pth`` loaded strictly, eval mode.

    Args:
        folder: a ``fixtures/mmpose/models/<name>`` folder.
        test_cfg: entries that override the config's ``test_cfg``.
    """
    from posekit.interop import load_model_checkpoint
    from posekit.registry import build

    cfg = json.loads((folder / "config.json").read_text())
    if test_cfg is not None:
        cfg["test_cfg"] = {**cfg.get("test_cfg", {}), **test_cfg}
    model = build("estimator", cfg)
    load_model_checkpoint(model, folder / "checkpoint.pth", strict=True)
    return model.eval()


def mmpose_backbone_config(folder: Path) -> dict[str, Any]:
    """The ``backbone`` dict of a model fixture's ``config.json``, as MMPose wrote it.

    Args:
        folder: a ``fixtures/mmpose/models/<name>`` folder.
    """
    return json.loads((folder / "config.json").read_text())["backbone"]


def assert_backbone_matches_mmpose(folder: Path, optimized: bool = False) -> None:
    """Build a fixture's backbone, load its MMPose checkpoint strictly and compare ``backbone_out.npz``.

    Args:
        folder: a ``fixtures/mmpose/models/<name>`` folder (``config.json``, ``checkpoint.pth``,
            ``input.npy`` ``(B, 3, H, W)``, ``backbone_out.npz``).
        optimized: fold BatchNorms and go channels-last first (:func:`posekit.nn.optimize_for_inference`).
    """
    import torch
    from torch import nn

    from posekit.nn import load_checkpoint, optimize_for_inference
    from posekit.registry import build

    model = build("backbone", mmpose_backbone_config(folder))
    load_checkpoint(model, folder / "checkpoint.pth", prefix="backbone.", strict=True)
    model.eval()
    if optimized:
        optimize_for_inference(model)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules()), "BatchNorm left after folding"
    with torch.no_grad():
        out = model(torch.from_numpy(np.load(folder / "input.npy")))
    assert_outputs_match(out, folder / "backbone_out.npz")


def codec_cases(shared: Path, name: str) -> list[Path]:
    """The reference cases ``shared/fixtures/mmpose/codecs/<name>-*.npz`` of one codec (at least one).

    Args:
        shared: the shared folder (the ``shared`` fixture).
        name: the codec's registered name, e.g. ``"MSRAHeatmap"``.
    """
    files = sorted((shared / "fixtures/mmpose/codecs").glob(f"{name}-*.npz"))
    assert files, f"no {name} cases under {shared / 'fixtures/mmpose/codecs'}"
    return files


def assert_encode_matches(path: Path) -> tuple[Any, Any, dict[str, np.ndarray]]:
    """Build a case's codec from its ``kwargs`` and compare ``encode`` with every ``encode_out_*`` array.

    Args:
        path: a ``<Codec>-<tag>.npz`` case written by MMPose's ``codec.encode(keypoints, keypoints_visible)``.

    Returns:
        ``(codec, case, encoded)`` for the caller's decode checks (``case`` is the loaded npz).
    """
    from posekit.registry import build

    case = np.load(path, allow_pickle=False)
    codec = build("codec", {"type": path.name.split("-")[0], **json.loads(str(case["kwargs"]))})
    encoded = codec.encode(case["encode_in_keypoints"], case["encode_in_keypoints_visible"])
    out_keys = {k.removeprefix("encode_out_") for k in case.files if k.startswith("encode_out_")}
    assert set(encoded) == out_keys, f"{path.name}: encode keys {sorted(encoded)} != {sorted(out_keys)}"
    for key in out_keys:
        assert_same(key, encoded[key], case[f"encode_out_{key}"], path.name)
    return codec, case, encoded


def assert_head_matches_mmpose(folder: Path, names: tuple[str, ...]) -> None:
    """Build a fixture's head, load its MMPose weights strictly and compare ``head_out.npz`` (1e-4 * max|ref|).

    Args:
        folder: a ``fixtures/mmpose/models/<name>`` folder (``config.json``, ``checkpoint.pth``,
            ``backbone_out.npz`` as the head's input, ``head_out.npz``).
        names: the ``head_out.npz`` keys of the head's outputs, in the order ``forward`` returns them.
    """
    import torch

    from posekit.nn import load_checkpoint
    from posekit.registry import build

    head = build("head", json.loads((folder / "config.json").read_text())["head"])
    load_checkpoint(head, folder / "checkpoint.pth", prefix="head.", strict=True)
    head.eval()
    feats = np.load(folder / "backbone_out.npz", allow_pickle=False)
    with torch.no_grad():
        outputs = head(tuple(torch.from_numpy(feats[f"out_{i}"]) for i in range(len(feats.files))))
    outputs = (outputs,) if isinstance(outputs, torch.Tensor) else tuple(outputs)
    ref = np.load(folder / "head_out.npz", allow_pickle=False)
    assert len(outputs) == len(names), f"{folder}: the head returned {len(outputs)} outputs, expected {names}"
    for name, out in zip(names, outputs, strict=True):
        assert_close_to_max(name, out.detach().cpu().numpy(), ref[name], str(folder / "head_out.npz"))


def assert_close(actual: object, expected: object, where: str, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """``actual`` equals ``expected`` (tensors or arrays) within ``rtol`` / ``atol``; a failure names ``where``."""
    import torch

    torch.testing.assert_close(
        torch.as_tensor(actual), torch.as_tensor(expected), rtol=rtol, atol=atol, msg=lambda m: f"{where}: {m}"
    )


def head_fixture(
    fixtures: Path, name: str, encoder: tuple[str, ...] = ("decoder",), **overrides: object
) -> tuple[Any, Any, dict[str, Any]]:
    """A head fixture written by a plugin's generator: ``NAME_outputs.pt`` (the record) and ``NAME.pth``.

    Returns ``(head, batch, ref)``: the record's ``head`` config (with ``overrides``) built, its
    checkpoint loaded strictly, in eval mode; the batch of the record's ``keypoints`` (N, K, 2)
    encoded by posekit's ``GenerateTarget`` with the codec at ``ref["head"][encoder[0]][encoder[1]]...``
    (48 x 64 inputs, COCO flip indices); the record.
    """
    import torch

    from posekit.data import pose_collate
    from posekit.nn import load_checkpoint
    from posekit.registry import build
    from posekit.structures import PoseSample
    from posekit_testing.samples import COCO_FLIP_INDICES

    ref = torch.load(fixtures / f"{name}_outputs.pt", weights_only=True)
    head = build("head", {**ref["head"], **overrides})
    load_checkpoint(head, fixtures / f"{name}.pth", prefix="head.")  # strict
    head.eval()
    codec: Any = ref["head"]
    for key in encoder:
        codec = codec[key]
    generate = build("transform", {"type": "GenerateTarget", "encoder": codec})
    samples = []
    for i, (k, v) in enumerate(zip(ref["keypoints"], ref["keypoints_visible"], strict=True)):
        s = PoseSample(img_id=i, keypoints=k.numpy(), keypoints_visible=v.numpy(), flip_indices=list(COCO_FLIP_INDICES))
        s.input_size = (48, 64)
        s.inputs = torch.zeros(3, 64, 48, dtype=torch.uint8)
        samples.append(generate(s))
    return head, pose_collate(samples), ref


def assert_head_fixture_matches(
    fixtures: Path, name: str, regenerate: str, outputs: tuple[str, ...], encoder: tuple[str, ...] = ("decoder",)
) -> None:
    """A :func:`head_fixture` head gives the record's outputs, losses and flip-test predictions (1e-4).

    Args:
        fixtures: the folder of ``NAME_outputs.pt`` and ``NAME.pth``.
        name: the fixture's name.
        regenerate: the command that writes the fixture, for failure messages.
        outputs: what ``forward``'s outputs are, in order (``"heatmaps"``), for failure messages.
        encoder: the path of the codec config in the record's head config.
    """
    import numpy as np
    import torch

    from posekit.structures import TestCfg, TrainCfg

    head, batch, ref = head_fixture(fixtures, name, encoder)
    with torch.no_grad():
        out = head(ref["feats"])
        losses = head.loss(ref["feats"], batch, TrainCfg())
        preds = head.predict((ref["feats"], ref["feats_flip"]), batch, TestCfg(**ref["test_cfg"]))
    where = f"{name}.pth (regenerate: {regenerate})"
    for what, value, expected in zip(outputs, (out,) if len(outputs) == 1 else out, ref["outputs"], strict=True):
        assert_close(value, expected, f"{where} {what}")
    assert set(losses) == set(ref["losses"]), f"{where}: losses {sorted(losses)} != {sorted(ref['losses'])}"
    for key in ref["losses"]:
        assert_close(losses[key], ref["losses"][key], f"{where} {key}")
    for field, key in (
        ("keypoints", "pred_keypoints"),
        ("keypoint_scores", "pred_scores"),
        ("keypoints_visible", "pred_visible"),
    ):
        if key in ref:
            assert_close(np.stack([getattr(p, field) for p in preds]), ref[key], f"{where} flip-test {field}")
