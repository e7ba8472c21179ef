"""DSNTHead against MMPose 1.3.2: the head of the ``ipr_res50_dsnt`` config, narrowed, with random
weights (fixtures/dsnt_head.pth, written by posekit-visibility's ``tests/fixtures/generate.py`` with
MMPose's own Python) loads strictly and gives MMPose's coordinates, softmax maps, loss (SmoothL1 + JSD)
and flip-test keypoints (1e-4); ``lambda_t`` with the ``dsnt_epoch`` hook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from posekit.data import pose_collate
from posekit.nn import load_checkpoint
from posekit.registry import build
from posekit.structures import PoseSample, TrainCfg
from posekit.structures import TestCfg as HeadTestCfg

FIXTURES = Path(__file__).parent / "fixtures"
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-visibility/tests/fixtures/generate.py"
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _close(actual: object, expected: object, where: str) -> None:
    torch.testing.assert_close(
        torch.as_tensor(actual), torch.as_tensor(expected), rtol=1e-4, atol=1e-5, msg=lambda m: f"{where}: {m}"
    )


def _head_and_batch(**overrides: object) -> tuple[Any, Any, dict[str, Any]]:
    """The fixture's head (checkpoint loaded strictly, eval mode), the batch of its keypoints encoded by
    posekit's GenerateTarget with the head's codec, and the reference record."""
    ref = torch.load(FIXTURES / "dsnt_head_outputs.pt", weights_only=True)
    head = build("head", {**ref["head"], **overrides})
    load_checkpoint(head, FIXTURES / "dsnt_head.pth", prefix="head.")  # strict
    head.eval()
    generate = build("transform", {"type": "GenerateTarget", "encoder": ref["head"]["decoder"]})
    samples = []
    for i, (k, v) in enumerate(zip(ref["keypoints"], ref["keypoints_visible"], strict=True)):
        s = PoseSample(img_id=i, keypoints=k.numpy(), keypoints_visible=v.numpy(), flip_indices=COCO_FLIP)
        s.input_size = (48, 64)
        s.inputs = torch.zeros(3, 64, 48, dtype=torch.uint8)
        samples.append(generate(s))
    return head, pose_collate(samples), ref


def test_dsnt_head_matches_mmpose() -> None:
    head, batch, ref = _head_and_batch()
    with torch.no_grad():
        coords, heatmaps = head(ref["feats"])
        losses = head.loss(ref["feats"], batch, TrainCfg())
        preds = head.predict((ref["feats"], ref["feats_flip"]), batch, HeadTestCfg(**ref["test_cfg"]))
    where = f"dsnt_head.pth (regenerate: {REGENERATE})"
    _close(coords, ref["outputs"][0], f"{where} coordinates")
    _close(heatmaps, ref["outputs"][1], f"{where} softmax maps")
    for key in ("loss_kpt", "acc_pose"):
        _close(losses[key], ref["losses"][key], f"{where} {key}")
    _close(np.stack([p.keypoints for p in preds]), ref["pred_keypoints"], f"{where} flip-test keypoints")
    _close(np.stack([p.keypoint_scores for p in preds]), ref["pred_scores"], f"{where} flip-test scores")


def test_lambda_t_drops_the_heatmap_loss_from_its_epoch() -> None:
    """With lambda_t=2 the loss is coordinates + heatmaps before epoch 2 and coordinates only from it on;
    the ``dsnt_epoch`` hook sets the epoch on every DSNTHead of the trained model."""
    from posekit_regression import dsnt_epoch

    head, batch, ref = _head_and_batch(lambda_t=2)

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
