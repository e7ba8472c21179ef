"""The top-down predict path on the real pipeline, against MMPose's outputs.

Reference: ``shared/fixtures/mmpose/models/<name>/`` (MMPose 1.3.2, CPU, random weights; the
fixture estimators built and loaded by the kit fixture ``posekit_reference.mmpose_estimator``). The
real test pipeline (``CocoDataset`` on ``data/coco/test_coco.json`` with LoadImage,
GetBBoxCenterScale, TopdownAffine, PackPoseInputs; ``pose_collate``; the model's data
preprocessor) runs the two people of the top-down fixtures' ``input.npy`` (COCO annotations 460541
and 437295), so that batch is checked against ``input.npy`` and ``head_out.npz`` too. Whole-model
parity of every paradigm is the core's tests/test_estimators.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from posekit.data import pose_collate
from posekit.registry import build
from posekit.structures import PoseBatch, PoseResult

#: names of each head's raw outputs in head_out.npz, in the order ``head.forward`` returns them
HEAD_OUTPUTS = {"HeatmapHead": ("heatmaps",), "RTMCCHead": ("simcc_x", "simcc_y")}
#: COCO annotations of the two people in the top-down fixtures' input.npy (in that order)
FIXTURE_ANN_IDS = (460541, 437295)
INPUT_SIZE = (192, 256)  # (w, h) of the top-down fixtures


def _folder(shared: Path, name: str) -> Path:
    return shared / "fixtures/mmpose/models" / name


def _model(posekit_reference: Any, shared: Path, name: str, test_cfg: dict[str, Any] | None = None) -> torch.nn.Module:
    return posekit_reference.mmpose_estimator(_folder(shared, name), test_cfg)


def _as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _topdown_batch(shared: Path, model: torch.nn.Module) -> PoseBatch:
    """The fixture people through the real test pipeline, collated and preprocessed by ``model``."""
    pipeline = [
        {"type": "LoadImage"},
        {"type": "GetBBoxCenterScale", "padding": 1.25},
        {"type": "TopdownAffine", "input_size": INPUT_SIZE},
        {"type": "PackPoseInputs"},
    ]
    dataset = build(  # posekit-datasets' CocoDataset, by registry name
        "dataset",
        {
            "type": "CocoDataset",
            "ann_file": "coco/test_coco.json",
            "data_root": str(shared / "data"),
            "data_prefix": {"img": "coco/"},
            "test_mode": True,
            "pipeline": pipeline,
        },
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
def test_topdown_predict_on_the_real_pipeline(posekit_reference: Any, shared: Path, name: str) -> None:
    folder = _folder(shared, name)
    model = _model(posekit_reference, shared, name, {"flip_test": False})
    batch = _topdown_batch(shared, model)
    posekit_reference.assert_close_to_max(
        "pipeline", batch.inputs.numpy(), np.load(folder / "input.npy"), str(folder / "input.npy")
    )
    with torch.no_grad():
        raw = _as_tuple(model(batch.inputs, mode="tensor"))
        in_input_space = model.head.predict(model.extract_feat(batch.inputs), batch, model.test_cfg)
    ref = np.load(folder / "head_out.npz", allow_pickle=False)
    for key, tensor in zip(HEAD_OUTPUTS[type(model.head).__name__], raw, strict=True):
        posekit_reference.assert_close_to_max(
            f"{key} (pipeline + preprocessor)", tensor.numpy(), ref[key], str(folder / "head_out.npz")
        )

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
    posekit_reference: Any, shared: Path, name: str, test_cfg: dict[str, Any], stride: float
) -> None:
    """With flip test, the mirrored crop gives the mirrored pose, left and right keypoints swapped.

    Flip test averages ``f(x)`` with ``flip(f(mirror(x)))``: run on ``mirror(x)`` it averages the same two
    maps mirrored, so keypoint ``k`` of the mirrored crop is keypoint ``flip_indices[k]`` of the crop,
    mirrored: ``x' = W - stride - x`` in input pixels (``stride``: input pixels per decoder bin).
    """
    model = _model(posekit_reference, shared, name, test_cfg)
    batch = _topdown_batch(shared, model)
    plain = _predict(_model(posekit_reference, shared, name, {"flip_test": False}), batch)
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


def test_topdown_output_keypoint_indices(posekit_reference: Any, shared: Path) -> None:
    name = "rtmpose-t_coco-256x192"
    indices = (0, 5, 6, 15, 16)
    full_model = _model(posekit_reference, shared, name)
    batch = _topdown_batch(shared, full_model)
    full = _predict(full_model, batch)
    some = _predict(_model(posekit_reference, shared, name, {"output_keypoint_indices": indices}), batch)
    for a, b in zip(full, some, strict=True):
        assert b.keypoints.shape == (1, len(indices), 2) and b.keypoint_scores.shape == (1, len(indices))
        np.testing.assert_array_equal(b.keypoints, a.keypoints[:, list(indices)])
        np.testing.assert_array_equal(b.keypoint_scores, a.keypoint_scores[:, list(indices)])
        assert b.keypoints_visible is not None and b.keypoints_visible.shape == (1, len(indices))
        np.testing.assert_array_equal(b.keypoints_visible, a.keypoints_visible[:, list(indices)])
