"""MPJPE / N-MPJPE / P-MPJPE (function and metric) against MMPose 1.3.2.

Reference: shared/fixtures/mmpose/metrics/mpjpe_<tag>.npz (see the README there), the outputs of
``mmpose.evaluation.functional.keypoint_mpjpe``. Tolerance: 1e-6 (relative).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from posekit_lifting.mpjpe_metric import MPJPE, keypoint_mpjpe

from posekit.errors import ConfigError
from posekit.registry import build
from posekit.structures import PoseResult, PoseSample

RTOL = 1e-6


def load(shared: Path, name: str) -> dict[str, Any]:
    with np.load(shared / "fixtures" / "mmpose" / "metrics" / name, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def close(actual: Any, expected: Any, source: str) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=1e-12, err_msg=source)


@pytest.mark.parametrize("alignment", ["none", "scale", "procrustes"])
def test_functional_mpjpe(shared: Path, alignment: str) -> None:
    z = load(shared, "mpjpe_h36m.npz")
    value = keypoint_mpjpe(z["pred"], z["gt"], z["mask"], alignment)  # type: ignore[arg-type]
    close(value, z[f"mpjpe_{alignment}"], f"mpjpe_h36m.npz: mpjpe_{alignment}")


def lifting_results(z: dict[str, Any]) -> list[PoseResult]:
    out = []
    actions = ("Directions_1", "Eating", "Walking_2")
    for i in range(len(z["pred"])):
        sample = PoseSample(
            img_id=i,
            img_path=f"S9_{actions[i % 3]}.54138969_{i:06d}.jpg",
            lifting_target=z["gt"][i : i + 1],
            lifting_target_visible=z["mask"][i : i + 1, :, None].astype(np.float32),
        )
        k = z["pred"].shape[1]
        out.append(PoseResult(z["pred"][i : i + 1], np.ones((1, k)), np.zeros((1, 4)), np.ones(1), sample))
    return out


@pytest.mark.parametrize(("mode", "alignment"), [("mpjpe", "none"), ("n-mpjpe", "scale"), ("p-mpjpe", "procrustes")])
def test_mpjpe_metric(shared: Path, mode: str, alignment: str) -> None:
    z = load(shared, "mpjpe_h36m.npz")
    metric = MPJPE(mode=mode)  # type: ignore[arg-type]
    metric.process(lifting_results(z))
    out = metric.evaluate()
    name = mode.upper()
    close(out[name], z[f"mpjpe_{alignment}"], f"mpjpe_h36m.npz: {name}")
    assert set(out) == {name, f"{name}_Directions", f"{name}_Eating", f"{name}_Walking"}
    rows = np.arange(len(z["pred"])) % 3 == 1
    eating = keypoint_mpjpe(z["pred"][rows], z["gt"][rows], z["mask"][rows], alignment)  # type: ignore[arg-type]
    assert out[f"{name}_Eating"] == eating

    skipping = MPJPE(mode=mode, skip_list=("S9_Eating",))  # type: ignore[arg-type]
    skipping.process(lifting_results(z))
    assert f"{name}_Eating" not in skipping.evaluate()


def test_registry_builds_mpjpe() -> None:
    assert build("metric", {"type": "MPJPE", "mode": "p-mpjpe"}).mode == "p-mpjpe"
    with pytest.raises(ConfigError, match="mode"):
        build("metric", {"type": "MPJPE", "mode": "pa-mpjpe"})
