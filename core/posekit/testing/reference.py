"""Comparing with MMPose's reference numbers (``shared/fixtures/mmpose``) at the documented tolerances."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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


def assert_outputs_match(outputs: tuple[object, ...], ref_file: Path) -> None:
    """Every ``out_i`` of a reference ``.npz`` (a backbone's or neck's tuple) within 1e-4 * max|ref|."""
    ref = np.load(ref_file, allow_pickle=False)
    assert len(outputs) == len(ref.files), f"{ref_file}: {len(ref.files)} outputs expected, got {len(outputs)}"
    for i, out in enumerate(outputs):
        value = out.detach().cpu().numpy() if hasattr(out, "detach") else out  # type: ignore[union-attr]
        assert_close_to_max(f"out_{i}", value, ref[f"out_{i}"], str(ref_file))
