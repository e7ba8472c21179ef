"""DEKR (DEKRHead, its rescore net and NMS, the plain-torch DeformConv2d) against MMPose 1.3.2 and the
deformable convolution's definition; trains on COCO images; serves through `posekit infer`.

Reference case: ``fixtures/generate_dekr.py`` (the model of ``dekr_hrnet-w32_8xb10-140e_coco-512x512`` at
tiny sizes, an MMPose checkpoint). mmcv-lite has no compiled DeformConv2d, so MMPose ran with a stand-in
written as an explicit bilinear gather; posekit's grid_sample version is checked here against a
loop-based numpy evaluation of the operator's definition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from posekit_bottomup.deform_conv import deform_conv2d

import posekit
from posekit import structures
from posekit.structures import PoseBatch, PoseSample

FIXTURES = Path(__file__).parent / "fixtures"
GENERATOR = "plugins/posekit-bottomup/tests/fixtures/generate_dekr.py"
FLIP_INDICES = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _bilinear(img: np.ndarray, y: float, x: float) -> float:
    """mmcv's bilinear sample of ``img (H, W)`` at ``(y, x)``: corners outside the image are zero."""
    h, w = img.shape
    if y <= -1 or y >= h or x <= -1 or x >= w:
        return 0.0
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    total = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                total += wy * wx * img[yy, xx]
    return total


def _deform_conv_loops(x, offset, weight, stride, pad, dil, groups, deform_groups):  # type: ignore[no-untyped-def]
    """The definition, one output value at a time."""
    b, c = x.shape[:2]
    o, cg, kh, kw = weight.shape
    ho, wo = offset.shape[-2:]
    out = np.zeros((b, o, ho, wo))
    for n in range(b):
        for oc in range(o):
            g = oc // (o // groups)
            for y in range(ho):
                for xo in range(wo):
                    acc = 0.0
                    for ci in range(cg):
                        ch = g * cg + ci
                        dg = ch // (c // deform_groups)
                        for i in range(kh):
                            for j in range(kw):
                                t = i * kw + j
                                dy = offset[n, dg * 2 * kh * kw + 2 * t, y, xo]
                                dx = offset[n, dg * 2 * kh * kw + 2 * t + 1, y, xo]
                                py = y * stride - pad + i * dil + dy
                                px = xo * stride - pad + j * dil + dx
                                acc += weight[oc, ci, i, j] * _bilinear(x[n, ch], py, px)
                    out[n, oc, y, xo] = acc
    return out


@pytest.mark.parametrize(
    ("stride", "pad", "dil", "groups", "deform_groups"), [(1, 1, 1, 2, 2), (2, 0, 1, 1, 2), (1, 2, 2, 2, 1)]
)
def test_deform_conv_matches_its_definition(stride: int, pad: int, dil: int, groups: int, deform_groups: int) -> None:
    rng = np.random.default_rng(stride * 10 + pad + dil)
    x = rng.normal(size=(2, 4, 5, 6))
    weight = rng.normal(size=(4, 4 // groups, 3, 3))
    ho = (5 + 2 * pad - dil * 2 - 1) // stride + 1
    wo = (6 + 2 * pad - dil * 2 - 1) // stride + 1
    offset = rng.normal(scale=1.5, size=(2, deform_groups * 18, ho, wo))  # samples in and outside the image
    offset[0, 0, 0, 0] = -3.0  # a sample entirely outside
    got = deform_conv2d(
        *(torch.from_numpy(a) for a in (x, offset, weight)),
        (stride,) * 2,
        (pad,) * 2,
        (dil,) * 2,
        groups,
        deform_groups,
    )
    ref = _deform_conv_loops(x, offset, weight, stride, pad, dil, groups, deform_groups)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_dekr_matches_mmpose() -> None:
    ref = torch.load(FIXTURES / "dekr_outputs.pt", weights_only=True)
    model = posekit.init_model(ref["model"], FIXTURES / "dekr.pth").eval()  # strict: MMPose's keys
    x = ref["input"]
    with torch.no_grad():
        feats = model.extract_feat(x)
        heatmaps, displacements = model.head(feats)
        for name, got in (("heatmaps", heatmaps), ("displacements", displacements)):
            err = (got - ref[name]).abs().max() / ref[name].abs().max()
            assert err <= 1e-4, f"DEKR {name} differ from MMPose by {err:.2e} of the scale; regenerate: {GENERATOR}"
        sample = PoseSample(flip_indices=FLIP_INDICES, input_size=(64, 64))
        sample.extra["skeleton_links"] = [tuple(link) for link in ref["skeleton_links"]]
        test_cfg = structures.TestCfg.model_validate(ref["model"]["test_cfg"])
        pred = model.head.predict((feats, model.extract_feat(x.flip(-1))), PoseBatch(x, {}, [sample]), test_cfg)[0]
    assert len(ref["keypoints"]) > 0, "the reference case finds no person"
    np.testing.assert_allclose(pred.keypoints, ref["keypoints"].numpy(), rtol=1e-4, atol=1e-4, err_msg=GENERATOR)
    np.testing.assert_allclose(pred.keypoint_scores, ref["keypoint_scores"].numpy(), rtol=1e-4, atol=1e-6)
