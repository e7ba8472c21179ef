"""VisPredictHead against MMPose 1.3.2: the head of the ``td-hm-vis_res50`` config, narrowed, with random
weights (fixtures/vis_head.pth, written by ``fixtures/generate.py`` with MMPose's own Python) loads strictly
and gives MMPose's heatmaps, visibilities, losses and flip-test keypoints and visibilities (1e-4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


def test_vis_head_matches_mmpose() -> None:
    ref = torch.load(FIXTURES / "vis_head_outputs.pt", weights_only=True)
    head = build("head", ref["head"])
    load_checkpoint(head, FIXTURES / "vis_head.pth", prefix="head.")  # strict
    head.eval()
    generate = build("transform", {"type": "GenerateTarget", "encoder": ref["head"]["pose_cfg"]["decoder"]})
    samples = []
    for i, (k, v) in enumerate(zip(ref["keypoints"], ref["keypoints_visible"], strict=True)):
        s = PoseSample(img_id=i, keypoints=k.numpy(), keypoints_visible=v.numpy(), flip_indices=COCO_FLIP)
        s.input_size = (48, 64)
        s.inputs = torch.zeros(3, 64, 48, dtype=torch.uint8)
        samples.append(generate(s))
    batch = pose_collate(samples)
    with torch.no_grad():
        heatmaps, vis = head(ref["feats"])
        losses = head.loss(ref["feats"], batch, TrainCfg())
        preds = head.predict((ref["feats"], ref["feats_flip"]), batch, HeadTestCfg(**ref["test_cfg"]))
    where = f"vis_head.pth (regenerate: {REGENERATE})"
    _close(heatmaps, ref["outputs"][0], f"{where} heatmaps")
    _close(vis, ref["outputs"][1], f"{where} visibilities")
    assert set(losses) == set(ref["losses"]) == {"loss_vis", "acc_vis", "loss_kpt", "acc_pose"}
    for key in ref["losses"]:
        _close(losses[key], ref["losses"][key], f"{where} {key}")
    _close(np.stack([p.keypoints for p in preds]), ref["pred_keypoints"], f"{where} flip-test keypoints")
    _close(np.stack([p.keypoint_scores for p in preds]), ref["pred_scores"], f"{where} flip-test scores")
    _close(np.stack([p.keypoints_visible for p in preds]), ref["pred_visible"], f"{where} flip-test visibilities")
