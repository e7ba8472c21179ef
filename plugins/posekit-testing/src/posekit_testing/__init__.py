"""Conformance kit for plugin authors: one-line protocol checks per component kind.

Use the functions directly, or through the pytest fixture ``posekit_check`` that the
``posekit`` pytest plugin (registered under ``pytest11``) provides::

    def test_my_head(posekit_check):
        posekit_check.head({"type": "TinyHead", "in_channels": 32, "out_channels": 17,
                            "decoder": {"type": "MSRAHeatmap", ...}}, feat_shapes=[(32, 8, 6)])
"""

from posekit_testing.conformance import (
    check_backbone,
    check_codec,
    check_component,
    check_estimator,
    check_head,
    check_loss,
    check_neck,
    example_config,
    random_topdown_batch,
    shared_dir,
)
from posekit_testing.reference import assert_close_to_max, assert_outputs_match, assert_same

__all__ = [
    "assert_close_to_max",
    "assert_outputs_match",
    "assert_same",
    "check_backbone",
    "check_codec",
    "check_component",
    "check_estimator",
    "check_head",
    "check_loss",
    "check_neck",
    "example_config",
    "random_topdown_batch",
    "shared_dir",
]
