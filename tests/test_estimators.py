"""Whole estimators of every paradigm from MMPose's model configs against MMPose's outputs.

Reference: ``shared/fixtures/mmpose/models/<name>/`` (MMPose 1.3.2, CPU, random weights): each
``config.json`` is built as it is (``_scope_`` keys and ``SyncBN`` included) through
``posekit.registry.build("estimator", cfg)``, ``checkpoint.pth`` loads with ``strict=True``, and
``input.npy`` through ``model(inputs, mode="tensor")`` in eval mode must give ``backbone_out.npz``,
``neck_out.npz`` (where present) and ``head_out.npz`` within ``1e-4 * max|ref|`` per tensor (the
brief's tolerance for outputs of deep random networks).

The top-down predict path on the real pipeline is posekit-topdown's test (tests/test_estimator.py
there); keypoint parity of ``inference_topdown`` with ``e2e.json`` is tests/test_inference.py's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

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


def _folder(shared: Path, name: str) -> Path:
    return shared / "fixtures/mmpose/models" / name


def _as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def test_every_fixture_model_is_covered(shared: Path) -> None:
    found = {p.name for p in (shared / "fixtures/mmpose/models").iterdir() if p.is_dir()}
    assert found == set(MODELS), f"{shared / 'fixtures/mmpose/models'}: update MODELS to {sorted(found)}"


@pytest.mark.parametrize("name", MODELS)
def test_estimator_matches_mmpose(posekit_reference: Any, shared: Path, name: str) -> None:
    torch.manual_seed(0)
    folder = _folder(shared, name)
    model = posekit_reference.mmpose_estimator(folder)
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
            posekit_reference.assert_close_to_max(f"out_{i}", feat.detach().numpy(), ref[f"out_{i}"], str(file))

    file = folder / "head_out.npz"
    ref = np.load(file, allow_pickle=False)
    keys = HEAD_OUTPUTS[type(model.head).__name__]
    assert set(keys) == set(ref.files), f"{file}: holds {ref.files}, expected {keys}"
    assert len(out) == len(keys), f"{file}: model(mode='tensor') gave {len(out)} tensors, MMPose's head {len(keys)}"
    for key, tensor in zip(keys, out, strict=True):
        posekit_reference.assert_close_to_max(key, tensor.detach().numpy(), ref[key], str(file))
