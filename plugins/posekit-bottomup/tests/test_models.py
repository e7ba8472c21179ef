"""AssociativeEmbeddingHead against MMPose's AE fixture, grouping of ground-truth maps, AE loss by hand."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample
from posekit.structures import TestCfg as HeadTestCfg

MODEL = "ae-hrnet-w18-small_coco-256x256"


def test_ae_head_matches_mmpose(posekit_reference: Any, shared: Path) -> None:
    posekit_reference.assert_head_matches_mmpose(shared / "fixtures/mmpose/models" / MODEL, ("heatmaps", "tags"))


def _people(num_people: int = 3, num_keypoints: int = 5) -> np.ndarray:
    """Keypoints (N, K, 2) on heatmap pixels (x 4 in the input), same keypoints >= 9 pixels apart."""
    n, k = np.meshgrid(np.arange(num_people), np.arange(num_keypoints), indexing="ij")
    return np.stack((4 + 9 * n + k % 2, 3 + 6 * k), axis=-1).astype(np.float32) * 4


def _ae_head(**decoder: object) -> object:
    return build(
        "head",
        {
            "type": "AssociativeEmbeddingHead",
            "in_channels": 8,
            "num_keypoints": 5,
            "deconv_out_channels": None,
            "decoder": {
                "type": "AssociativeEmbedding",
                "input_size": (128, 128),
                "heatmap_size": (32, 32),
                "sigma": 1.0,
                **decoder,
            },
        },
    )


def test_grouping_recovers_every_person_from_ground_truth_maps() -> None:
    head = _ae_head(decode_keypoint_order=(2, 0, 1, 3, 4))
    people = _people()
    heatmaps = head.decoder.encode(people)["heatmaps"]
    tags = np.zeros_like(heatmaps)
    for n, person in enumerate(people):
        for k, (x, y) in enumerate((person / 4).astype(int)):
            tags[k, y - 1 : y + 2, x - 1 : x + 2] = 3.0 * (n + 1)  # one embedding per person
    head.forward = lambda feats: (torch.from_numpy(heatmaps[None]), torch.from_numpy(tags[None]))
    sample = PoseSample(img_shape=(128, 128), flip_indices=list(range(5)))
    batch = PoseBatch(inputs=torch.zeros(1, 3, 128, 128), targets={}, samples=[sample])
    (pred,) = head.predict((torch.zeros(1, 8, 32, 32),), batch, HeadTestCfg())
    assert pred.keypoints.shape == people.shape
    order = np.argsort(pred.keypoints[:, 0, 0])
    np.testing.assert_allclose(pred.keypoints[order], people, rtol=0, atol=1e-5)
    np.testing.assert_allclose(pred.keypoint_scores, 1.0)
    np.testing.assert_allclose(pred.instance_scores, 1.0)


def test_ae_loss_by_hand() -> None:
    a, b, c = 0.2, 0.6, 1.5
    tags = torch.tensor([[[[a, 0.0], [0.0, c]], [[0.0, b], [0.0, 0.0]]]], requires_grad=True)  # (1, K=2, 2, 2)
    # person 0: keypoint 0 at pixel 0, keypoint 1 at pixel 1; person 1: keypoint 0 at pixel 3, keypoint 1 unseen
    indices = torch.tensor([[[[0, 1], [1, 1]], [[3, 1], [0, 0]]]])
    loss = build("loss", {"type": "AssociativeEmbeddingLoss", "loss_weight": 2.0, "push_loss_factor": 0.5})
    pull, push = loss(tags, indices)
    t0, t1 = (a + b) / 2, c
    expected_pull = ((a - t0) ** 2 + (b - t0) ** 2) / 2 / (2 + 1e-6) * 2.0
    expected_push = (2 + 2 * math.exp(-((t0 - t1) ** 2))) / (2 + 1e-6) * 2.0 * 0.5
    torch.testing.assert_close(pull, torch.tensor(expected_pull))
    torch.testing.assert_close(push, torch.tensor(expected_push))
    (pull + push).backward()
    assert torch.isfinite(tags.grad).all() and tags.grad.abs().sum() > 0
    assert tags.grad[0, 1, 1, 1] == 0  # unused pixels get no gradient
    # a list of per-image indices and an image without people
    pull2, push2 = loss(torch.cat([tags.detach(), tags.detach()]), [indices[0], indices[0, :0]])
    torch.testing.assert_close(pull2, pull.detach())
    torch.testing.assert_close(push2, push.detach())


def _ae_batch(head: object) -> PoseBatch:
    people = _people(num_keypoints=5)
    samples, heatmaps, indices, weights = [], [], [], []
    for n in (3, 2):
        enc = head.decoder.encode(people[:n])
        heatmaps.append(torch.from_numpy(enc["heatmaps"]))
        indices.append(torch.from_numpy(enc["keypoint_indices"]))
        weights.append(torch.from_numpy(enc["keypoint_weights"]))
        samples.append(PoseSample(img_shape=(128, 128), flip_indices=[0, 1, 2, 4, 3]))
    targets = {"heatmaps": torch.stack(heatmaps), "keypoint_indices": indices, "keypoint_weights": weights}
    return PoseBatch(inputs=torch.zeros(2, 3, 128, 128), targets=targets, samples=samples)


def test_ae_head_loss_keys_and_flip_test() -> None:
    head = _ae_head()
    batch = _ae_batch(head)
    feats = (torch.randn(2, 8, 32, 32),)
    losses = head.loss(feats, batch, None)
    assert set(losses) == {"loss_kpt", "loss_pull", "loss_push"}
    assert all(torch.isfinite(v) for v in losses.values())
    head.eval()
    # maps restored to the input size are decoded at the input size, as MMPose's configs set it
    head.decoder = build(
        "codec", {"type": "AssociativeEmbedding", "input_size": (128, 128), "heatmap_size": (128, 128)}
    )
    cfg = HeadTestCfg(flip_test=True, restore_heatmap_size=True, output_heatmaps=True)
    with torch.no_grad():
        preds = head.predict((feats, tuple(f.flip(-1) for f in feats)), batch, cfg)
    assert len(preds) == 2 and preds[0].heatmaps.shape == (5, 128, 128)


def test_ae_head_conformance(posekit_check) -> None:
    head = _ae_head()
    posekit_check.head(
        {
            "type": "AssociativeEmbeddingHead",
            "in_channels": 8,
            "num_keypoints": 5,
            "deconv_out_channels": None,
            "decoder": {"type": "AssociativeEmbedding", "input_size": (128, 128), "heatmap_size": (32, 32)},
        },
        feat_shapes=[(8, 32, 32)],
        batch=_ae_batch(head),
    )


@pytest.mark.parametrize("deconv", [None, (16,)])
def test_ae_head_shapes(deconv: tuple[int, ...] | None) -> None:
    head = build(
        "head",
        {
            "type": "AssociativeEmbeddingHead",
            "in_channels": 8,
            "num_keypoints": 5,
            "tag_dim": 2,
            "deconv_out_channels": deconv,
            "deconv_kernel_sizes": (4,) if deconv else None,
        },
    )
    heatmaps, tags = head((torch.randn(1, 8, 16, 16),))
    size = 32 if deconv else 16
    assert heatmaps.shape == (1, 5, size, size) and tags.shape == (1, 10, size, size)
