"""DSNTHead against MMPose 1.3.2: the head of the ``ipr_res50_dsnt`` config, narrowed, with random
weights (fixtures/dsnt_head.pth, written by posekit-visibility's ``tests/fixtures/generate.py`` with
MMPose's own Python) loads strictly and gives MMPose's coordinates, softmax maps, loss (SmoothL1 + JSD)
and flip-test keypoints (1e-4); ``lambda_t`` with the ``dsnt_epoch`` hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from posekit.structures import TrainCfg

FIXTURES = Path(__file__).parent / "fixtures"
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-visibility/tests/fixtures/generate.py"


def test_dsnt_head_matches_mmpose(posekit_reference: Any) -> None:
    posekit_reference.assert_head_fixture_matches(FIXTURES, "dsnt_head", REGENERATE, ("coordinates", "softmax maps"))


def test_lambda_t_drops_the_heatmap_loss_from_its_epoch(posekit_reference: Any) -> None:
    """With lambda_t=2 the loss is coordinates + heatmaps before epoch 2 and coordinates only from it on;
    the ``dsnt_epoch`` hook sets the epoch on every DSNTHead of the trained model."""
    from posekit_regression import dsnt_epoch

    head, batch, ref = posekit_reference.head_fixture(FIXTURES, "dsnt_head", lambda_t=2)

    class Trainer:
        model = torch.nn.Sequential(head)

    values = []
    for epoch in (1, 2):
        dsnt_epoch.before_train_epoch(trainer=Trainer(), epoch=epoch)
        with torch.no_grad():
            values.append(float(head.loss(ref["feats"], batch, TrainCfg())["loss_kpt"]))
    with torch.no_grad():
        coords, _ = head(ref["feats"])
        coord_loss = head.loss_module.loss_modules[0](
            coords, batch.instance_targets("keypoint_labels"), batch.instance_targets("keypoint_weights")
        )
    assert values[0] == pytest.approx(float(ref["losses"]["loss_kpt"]), rel=1e-5)
    assert values[1] == pytest.approx(float(coord_loss), rel=1e-6) and values[1] < values[0]
