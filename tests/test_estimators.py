"""Whole estimators from MMPose's model configs against MMPose's outputs, and the top-down predict path.

Reference: ``shared/fixtures/mmpose/models/<name>/`` (MMPose 1.3.2, CPU, random weights): each
``config.json`` is built as it is (``_scope_`` keys and ``SyncBN`` included) through
``posekit.registry.build("estimator", cfg)``, ``checkpoint.pth`` loads with ``strict=True``, and
``input.npy`` through ``model(inputs, mode="tensor")`` in eval mode must give ``backbone_out.npz``,
``neck_out.npz`` (where present) and ``head_out.npz`` within ``1e-4 * max|ref|`` per tensor (the
brief's tolerance for outputs of deep random networks).

The predict path runs the real test pipeline (``CocoDataset`` on ``data/coco/test_coco.json`` with
LoadImage, GetBBoxCenterScale, TopdownAffine, PackPoseInputs; ``pose_collate``; the model's data
preprocessor). The two people of the top-down fixtures' ``input.npy`` are COCO annotations 460541
and 437295, so that batch is checked against ``input.npy`` and ``head_out.npz`` too. Keypoint
parity of ``inference_topdown`` with ``e2e.json`` is tests/test_inference.py's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from posekit.data import pose_collate
from posekit.interop import load_model_checkpoint
from posekit.registry import build
from posekit.structures import PoseBatch, PoseResult


def coco_dataset(**kwargs: Any) -> Any:
    """A ``CocoDataset`` (posekit-datasets), built by registry name."""
    return build("dataset", {"type": "CocoDataset", **kwargs})


MODELS = (
    "rtmpose-t_coco-256x192",
    "simplebaseline-res18-narrow_coco-256x192",
    "hrnet-w18_coco-256x192",
    "videopose3d-27frm-c256_h36m",
    "ae-hrnet-w18-small_coco-256x256",
)
#: names of each head's raw outputs in head_out.npz, in the order ``head.forward`` returns them
HEAD_OUTPUTS = {
    "HeatmapHead": ("heatmaps",),
    "RTMCCHead": ("simcc_x", "simcc_y"),
    "RLEHead": ("coords",),
    "AssociativeEmbeddingHead": ("heatmaps", "tags"),
    "TemporalRegressionHead": ("coords",),
}
TOL = 1e-4  # times max|reference| of each tensor
#: COCO annotations of the two people in the top-down fixtures' input.npy (in that order)
FIXTURE_ANN_IDS = (460541, 437295)
INPUT_SIZE = (192, 256)  # (w, h) of the top-down fixtures


def _folder(shared: Path, name: str) -> Path:
    return shared / "fixtures/mmpose/models" / name


def _model(shared: Path, name: str, test_cfg: dict[str, Any] | None = None) -> torch.nn.Module:
    """The fixture's estimator, built from config.json as it is, with checkpoint.pth loaded strictly, in eval mode."""
    folder = _folder(shared, name)
    cfg = json.loads((folder / "config.json").read_text())
    if test_cfg is not None:
        cfg["test_cfg"] = {**cfg.get("test_cfg", {}), **test_cfg}
    model = build("estimator", cfg)
    load_model_checkpoint(model, folder / "checkpoint.pth", strict=True)
    return model.eval()


def _as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _match(out: torch.Tensor, ref: np.ndarray, where: str) -> None:
    assert tuple(out.shape) == ref.shape, f"{where}: shape {tuple(out.shape)}, MMPose's {ref.shape}"
    scale = float(np.abs(ref).max())
    err = float(np.abs(out.detach().numpy().astype(np.float64) - ref).max())
    assert err <= TOL * scale, f"{where}: max |posekit - MMPose| = {err:.3e} > {TOL} * max|ref| ({scale:.3e})"


def test_every_fixture_model_is_covered(shared: Path) -> None:
    found = {p.name for p in (shared / "fixtures/mmpose/models").iterdir() if p.is_dir()}
    assert found == set(MODELS), f"{shared / 'fixtures/mmpose/models'}: update MODELS to {sorted(found)}"


@pytest.mark.parametrize("name", MODELS)
def test_estimator_matches_mmpose(shared: Path, name: str) -> None:
    torch.manual_seed(0)
    folder = _folder(shared, name)
    model = _model(shared, name)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules()), "SyncBN must act as BN here"
    captured: dict[str, Any] = {}
    model.backbone.register_forward_hook(lambda _m, _i, out: captured.__setitem__("backbone", out))
    if model.with_neck:
        model.neck.register_forward_hook(lambda _m, _i, out: captured.__setitem__("neck", out))
    inputs = torch.from_numpy(np.load(folder / "input.npy", allow_pickle=False))
    with torch.no_grad():
        out = _as_tuple(model(inputs, mode="tensor"))

    for part in ("backbone", "neck"):
        file = folder / f"{part}_out.npz"
        if not file.is_file():
            assert part not in captured, f"{name}: posekit built a {part} that MMPose's model does not have"
            continue
        ref = np.load(file, allow_pickle=False)
        feats = _as_tuple(captured[part])
        assert len(feats) == len(ref.files), f"{file}: {len(ref.files)} outputs, posekit's {part} gave {len(feats)}"
        for i, feat in enumerate(feats):
            _match(feat, ref[f"out_{i}"], f"{file} out_{i}")

    file = folder / "head_out.npz"
    ref = np.load(file, allow_pickle=False)
    keys = HEAD_OUTPUTS[type(model.head).__name__]
    assert set(keys) == set(ref.files), f"{file}: holds {ref.files}, expected {keys}"
    assert len(out) == len(keys), f"{file}: model(mode='tensor') gave {len(out)} tensors, MMPose's head {len(keys)}"
    for key, tensor in zip(keys, out, strict=True):
        _match(tensor, ref[key], f"{file} {key}")


# ---- the top-down predict path on the real pipeline ----


def _topdown_batch(shared: Path, model: torch.nn.Module) -> PoseBatch:
    """The fixture people through the real test pipeline, collated and preprocessed by ``model``."""
    dataset = coco_dataset(
        ann_file="coco/test_coco.json",
        data_root=str(shared / "data"),
        data_prefix={"img": "coco/"},
        test_mode=True,
        pipeline=(
            {"type": "LoadImage"},
            {"type": "GetBBoxCenterScale", "padding": 1.25},
            {"type": "TopdownAffine", "input_size": INPUT_SIZE},
            {"type": "PackPoseInputs"},
        ),
    )
    index = {dataset.get_data_info(i).id: i for i in range(len(dataset))}
    batch = pose_collate([dataset[index[ann_id]] for ann_id in FIXTURE_ANN_IDS])
    return model.data_preprocessor(batch)


def _predict(model: torch.nn.Module, batch: PoseBatch) -> list[PoseResult]:
    with torch.no_grad():
        return model(batch.inputs, batch, mode="predict")


def _to_input(keypoints: np.ndarray, warp_mat: np.ndarray) -> np.ndarray:
    """``(N, K, 2)`` image-space keypoints through the pipeline's ``(2, 3)`` image -> input affine matrix."""
    return keypoints @ warp_mat[:, :2].T + warp_mat[:, 2]


@pytest.mark.parametrize("name", ("rtmpose-t_coco-256x192", "simplebaseline-res18-narrow_coco-256x192"))
def test_topdown_predict_on_the_real_pipeline(shared: Path, name: str) -> None:
    folder = _folder(shared, name)
    model = _model(shared, name, {"flip_test": False})
    batch = _topdown_batch(shared, model)
    _match(batch.inputs, np.load(folder / "input.npy", allow_pickle=False), f"{folder / 'input.npy'} (pipeline)")
    with torch.no_grad():
        raw = _as_tuple(model(batch.inputs, mode="tensor"))
        in_input_space = model.head.predict(model.extract_feat(batch.inputs), batch, model.test_cfg)
    ref = np.load(folder / "head_out.npz", allow_pickle=False)
    for key, tensor in zip(HEAD_OUTPUTS[type(model.head).__name__], raw, strict=True):
        _match(tensor, ref[key], f"{folder / 'head_out.npz'} {key} (pipeline + data preprocessor)")

    results = _predict(model, batch)
    assert len(results) == len(FIXTURE_ANN_IDS)
    for result, sample, head_pred in zip(results, batch.samples, in_input_space, strict=True):
        assert result.keypoints.shape == (1, 17, 2) and result.keypoint_scores.shape == (1, 17)
        np.testing.assert_array_equal(result.bboxes, sample.bbox)
        np.testing.assert_array_equal(result.keypoint_scores, head_pred.keypoint_scores)
        # image space: mapped back through the very affine the pipeline cropped with, they land on the decoded ones
        back = _to_input(result.keypoints.astype(np.float64), sample.warp_mat.astype(np.float64))
        np.testing.assert_allclose(back, head_pred.keypoints, atol=2e-3, err_msg=f"annotation {sample.id}")
        # and inside the crop (the padded box, aspect fixed to w / h) the model saw
        low = sample.input_center - sample.input_scale / 2
        high = sample.input_center + sample.input_scale / 2
        assert np.all(result.keypoints >= low - 1e-3) and np.all(result.keypoints <= high + 1e-3), (
            f"annotation {sample.id}: keypoints outside the crop {low}..{high}"
        )
        assert np.all(sample.input_scale >= (sample.bbox[0, 2:] - sample.bbox[0, :2]) * 1.25 - 1e-3)


@pytest.mark.parametrize(
    ("name", "test_cfg", "stride"),
    (
        ("rtmpose-t_coco-256x192", {"flip_test": True}, 0.5),  # SimCC bins: 1 / simcc_split_ratio
        ("simplebaseline-res18-narrow_coco-256x192", {"flip_test": True, "shift_heatmap": False}, 4.0),  # 192 / 48
    ),
)
def test_topdown_flip_test_is_mirror_equivariant(
    shared: Path, name: str, test_cfg: dict[str, Any], stride: float
) -> None:
    """With flip test, the mirrored crop gives the mirrored pose, left and right keypoints swapped.

    Flip test averages ``f(x)`` with ``flip(f(mirror(x)))``: run on ``mirror(x)`` it averages the same two
    maps mirrored, so keypoint ``k`` of the mirrored crop is keypoint ``flip_indices[k]`` of the crop,
    mirrored: ``x' = W - stride - x`` in input pixels (``stride``: input pixels per decoder bin).
    """
    model = _model(shared, name, test_cfg)
    batch = _topdown_batch(shared, model)
    plain = _predict(_model(shared, name, {"flip_test": False}), batch)
    results = _predict(model, batch)
    mirrored = _predict(model, PoseBatch(batch.inputs.flip(-1), batch.targets, batch.samples))
    flip_indices = batch.samples[0].flip_indices
    assert sorted(flip_indices) == list(range(17)) and flip_indices != list(range(17))
    for res, mir, flat, sample in zip(results, mirrored, plain, batch.samples, strict=True):
        assert not np.allclose(res.keypoints, flat.keypoints), "flip test changed nothing"
        kx = _to_input(res.keypoints[0].astype(np.float64), sample.warp_mat)[flip_indices]
        mx = _to_input(mir.keypoints[0].astype(np.float64), sample.warp_mat)
        np.testing.assert_allclose(mx[:, 0], INPUT_SIZE[0] - stride - kx[:, 0], atol=2e-3)
        np.testing.assert_allclose(mx[:, 1], kx[:, 1], atol=2e-3)
        np.testing.assert_allclose(mir.keypoint_scores[0], res.keypoint_scores[0][flip_indices], rtol=1e-6)


def test_topdown_output_keypoint_indices(shared: Path) -> None:
    name = "rtmpose-t_coco-256x192"
    indices = (0, 5, 6, 15, 16)
    full_model = _model(shared, name)
    batch = _topdown_batch(shared, full_model)
    full = _predict(full_model, batch)
    some = _predict(_model(shared, name, {"output_keypoint_indices": indices}), batch)
    for a, b in zip(full, some, strict=True):
        assert b.keypoints.shape == (1, len(indices), 2) and b.keypoint_scores.shape == (1, len(indices))
        np.testing.assert_array_equal(b.keypoints, a.keypoints[:, list(indices)])
        np.testing.assert_array_equal(b.keypoint_scores, a.keypoint_scores[:, list(indices)])
        assert b.keypoints_visible is not None and b.keypoints_visible.shape == (1, len(indices))
        np.testing.assert_array_equal(b.keypoints_visible, a.keypoints_visible[:, list(indices)])
