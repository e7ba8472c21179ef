"""Conformance kit for plugin authors: one-line protocol checks per component kind, MMPose reference comparisons.

Tests use it through the ``posekit`` pytest plugin (``pytest11``, :mod:`posekit_testing.plugin`) only: the
fixtures ``posekit_check``, ``posekit_reference``, ``posekit_configs``, ``posekit_samples``, ``posekit_dists``
and ``shared``, and the marker ``mmpose_configs``; never by importing this package (it is a plugin, and
plugins never import each other)::

    def test_my_head(posekit_check):
        posekit_check.head({"type": "TinyHead", "in_channels": 32, "out_channels": 17,
                            "decoder": {"type": "MSRAHeatmap", ...}}, feat_shapes=[(32, 8, 6)])

The names below are what ``posekit check`` and the fixtures are made of.
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
