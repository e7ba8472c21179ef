"""RandomFlipAroundRoot: flipping twice is the identity; seeded flips are reproducible."""

from __future__ import annotations

import numpy as np
from posekit_lifting.transforms import RandomFlipAroundRoot

from posekit.structures import PoseSample
from posekit.transforms import sample_rng


def test_flip_around_root_twice_is_identity() -> None:
    def lifting(seed: int) -> PoseSample:
        rng = np.random.default_rng(seed)
        return PoseSample(
            keypoints=rng.normal(size=(5, 17, 2)).astype(np.float32),
            keypoints_visible=rng.random((5, 17)).astype(np.float32),
            lifting_target=rng.normal(size=(1, 17, 3)).astype(np.float32),
            lifting_target_visible=rng.random((1, 17)).astype(np.float32),
            flip_indices=[0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13],
            camera_param={"c": np.array([[500.0], [500.0]]), "p": np.array([[0.1], [0.2]])},
        )

    t = RandomFlipAroundRoot(
        keypoints_flip_cfg={"center_mode": "static", "center_x": 0.0},
        target_flip_cfg={"center_mode": "root", "center_index": 0},
        flip_prob=1.0,
        flip_camera=True,
    )
    ref = lifting(0)
    twice = t(t(lifting(0)))
    for name in ("keypoints", "keypoints_visible", "lifting_target", "lifting_target_visible"):
        np.testing.assert_allclose(getattr(twice, name), getattr(ref, name), atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(twice.camera_param["c"], ref.camera_param["c"])
    once = t(lifting(0))
    np.testing.assert_allclose(once.keypoints[:, 1, 0], -ref.keypoints[:, 4, 0])
    np.testing.assert_allclose(
        once.lifting_target[:, 1, 0], 2 * ref.lifting_target[:, 0, 0] - ref.lifting_target[:, 4, 0]
    )
    assert once.camera_param["c"][0, 0] == -500.0
    flips = [RandomFlipAroundRoot({}, {}, flip_prob=0.5)(_lift_rng(s)).keypoints[0, 0, 0] != 0 for s in range(32)]
    assert 4 < sum(flips) < 28
    assert flips == [
        RandomFlipAroundRoot({}, {}, flip_prob=0.5)(_lift_rng(s)).keypoints[0, 0, 0] != 0 for s in range(32)
    ]


def _lift_rng(seed: int) -> PoseSample:
    s = PoseSample(
        keypoints=np.arange(17 * 2, dtype=np.float32).reshape(1, 17, 2),
        lifting_target=np.zeros((1, 17, 3), np.float32),
        flip_indices=list(range(17)),
    )
    s.rng = sample_rng(seed, 0, 0)
    return s
