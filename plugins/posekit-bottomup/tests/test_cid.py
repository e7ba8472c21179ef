"""CID (CIDHead, DecoupledHeatmap) against MMPose 1.3.2; trains on COCO images; serves through `posekit infer`.

Reference case: ``fixtures/generate_cid.py`` (the model of ``cid_hrnet-w32_8xb20-140e_coco-512x512`` at
tiny sizes, random weights, an MMPose checkpoint). Models match within 1e-4 relative, codecs within 1e-5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import posekit
from posekit import structures
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample

FIXTURES = Path(__file__).parent / "fixtures"
GENERATOR = "plugins/posekit-bottomup/tests/fixtures/generate_cid.py"
FLIP_INDICES = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
SEED = 7


def _numpy(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_numpy(v) for v in obj)
    return obj


def _close(name: str, got: Any, ref: Any, rtol: float = 1e-4) -> None:
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{name}: shape {got.shape}, MMPose {ref.shape}"
    err = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12) if ref.size else 0.0
    assert err <= rtol, f"{name}: differs from MMPose by {err:.2e} of the scale (> {rtol}); regenerate: {GENERATOR}"


def test_cid_matches_mmpose() -> None:
    ref = torch.load(FIXTURES / "cid_outputs.pt", weights_only=True)
    model = posekit.init_model(ref["model"], FIXTURES / "cid.pth").eval()  # strict: MMPose's keys
    x = ref["input"]
    with torch.no_grad():
        _close("CID forward (people heatmaps)", model(x, mode="tensor"), ref["forward"])
        feats = model.extract_feat(x)
        samples = [PoseSample(flip_indices=FLIP_INDICES, input_size=(64, 64))]
        batch = PoseBatch(inputs=x, targets={}, samples=samples)
        for name, flip, head_feats in (
            ("predict", False, feats),
            ("predict_flip", True, (feats, model.extract_feat(x.flip(-1)))),
        ):
            pred = model.head.predict(head_feats, batch, structures.TestCfg(flip_test=flip))[0]
            assert len(ref[name]["keypoints"]) > 0, "the reference case finds no person"
            _close(f"CID {name} keypoints", pred.keypoints, ref[name]["keypoints"])
            _close(f"CID {name} scores", pred.keypoint_scores, ref[name]["keypoint_scores"])


@pytest.mark.parametrize("case", range(2))
def test_decoupled_heatmap_matches_mmpose(case: int) -> None:
    import random

    ref = _numpy(torch.load(FIXTURES / "cid_outputs.pt", weights_only=True)["codec"][case])
    codec = build("codec", ref["config"])
    np.random.seed(SEED)  # the root jitter and the instance subset draw from the global generators, as MMPose
    random.seed(SEED)
    encoded = codec.encode(**ref["encode"])
    assert set(encoded) == set(ref["encoded"])
    for key, value in ref["encoded"].items():
        assert encoded[key].shape == value.shape, f"encode {key}: {encoded[key].shape} vs MMPose {value.shape}"
        np.testing.assert_allclose(encoded[key], value, rtol=1e-5, atol=1e-6, err_msg=f"encode {key} ({GENERATOR})")
    keypoints, scores = codec.decode(**ref["decode"])
    np.testing.assert_allclose(keypoints, ref["decoded"][0], rtol=1e-5, err_msg=f"decode keypoints ({GENERATOR})")
    np.testing.assert_allclose(scores, ref["decoded"][1], rtol=1e-5, err_msg=f"decode scores ({GENERATOR})")
