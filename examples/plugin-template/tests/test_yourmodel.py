"""Conformance checks of this plugin's components, through the registry as posekit builds them."""

from __future__ import annotations

import posekit


def test_backbone(posekit_check) -> None:
    posekit_check.backbone({"type": "YourmodelBackbone", "base_channels": 8}, input_shape=(2, 3, 64, 48))


HEAD = {
    "type": "YourmodelHead",
    "in_channels": 32,
    "out_channels": 17,
    "decoder": {"type": "MSRAHeatmap", "input_size": [48, 64], "heatmap_size": [12, 16], "sigma": 2.0},
}


def test_head(posekit_check) -> None:
    posekit_check.head(HEAD, feat_shapes=[(32, 8, 6)])


def test_codec(posekit_check) -> None:
    posekit_check.codec({"type": "YourmodelCodec", "input_size": [192, 256]}, tol=1e-3)


def test_estimator(posekit_check) -> None:
    cfg = {**posekit_check.example_config("estimator", "YourmodelEstimator"), "test_cfg": {"flip_test": True}}
    codec = posekit.build("codec", cfg["head"]["decoder"])
    posekit_check.estimator(cfg, posekit_check.random_topdown_batch(codec, batch_size=2))
