"""OKS NMS and soft OKS NMS (MMPose's ``oks_nms`` / ``soft_oks_nms``): duplicates suppressed, far people kept."""

from __future__ import annotations

import numpy as np
import pytest
from posekit_datasets.oks_nms import oks_matrix, oks_nms, soft_oks_nms

from posekit.errors import DataError


def test_oks_nms() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 100, size=(17, 2))
    keypoints = np.stack([base, base + 0.5, base + 40.0, base + 0.2])
    scores = np.array([0.5, 0.9, 0.8, 0.3])
    areas = np.full(4, 5000.0)
    sigmas = np.full(17, 0.05)
    oks = oks_matrix(keypoints, areas, sigmas)
    assert oks.dtype == np.float32 and np.allclose(oks, oks.T) and np.allclose(np.diag(oks), 1)
    # 1 beats its near-duplicates 0 and 3; 2 is far away
    assert oks_nms(keypoints, scores, areas, 0.9, sigmas).tolist() == [1, 2]
    # soft NMS keeps everything, the decayed duplicates last
    assert soft_oks_nms(keypoints, scores, areas, 0.9, sigmas).tolist() == [1, 2, 0, 3]
    assert soft_oks_nms(keypoints, scores, areas, 0.9, sigmas, max_dets=2).tolist() == [1, 2]
    with pytest.raises(DataError, match=r"sigmas must have shape \(K,\) = \(17,\)"):
        oks_nms(keypoints, scores, areas, 0.9, sigmas[:14])
    with_scores = np.concatenate([keypoints, np.zeros((4, 17, 1))], axis=-1)
    assert np.all(oks_matrix(with_scores, areas, sigmas, vis_thr=0.2) == 0)
