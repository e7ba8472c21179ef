"""SimOTA targets assign a whole batch at once: each image's positives are those it gets alone, whatever the
other images hold (people padded to the batch's most, images without people)."""

from __future__ import annotations

import pytest
import torch
from posekit_rtmo.examples import one_stage_batch
from posekit_rtmo.one_stage import Targets, decode_bbox, decode_kpt_reg
from posekit_rtmo.rtmo_head import RTMOHead

from posekit.registry import build
from posekit.structures import PoseBatch

SIZE, PRIORS_PER_IMAGE = 128, 8 * 8 + 4 * 4  # strides 16 and 32


def predictions(head: RTMOHead, num_images: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Random raw outputs of ``num_images`` images, decoded as the heads decode them (boxes about a stride)."""
    g = torch.Generator().manual_seed(seed)
    priors, stride = head.priors([torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 4, 4)])
    p, k = PRIORS_PER_IMAGE, head.num_keypoints
    bbox = decode_bbox(torch.randn(num_images, p, 4, generator=g) * 2, priors[:, :2], stride)
    kpt = decode_kpt_reg(torch.randn(num_images, p, 2 * k, generator=g), priors[:, :2], stride, k)
    cls, vis = torch.randn(num_images, p, 1, generator=g), torch.randn(num_images, p, k, generator=g)
    return priors, cls, torch.full_like(cls, 1e4), bbox, kpt, vis


def alone(batch: PoseBatch, i: int) -> PoseBatch:
    """Image ``i`` of ``batch`` as a batch of one."""
    return PoseBatch(batch.inputs[i : i + 1], {k: v[i : i + 1] for k, v in batch.targets.items()}, [batch.samples[i]])


@pytest.mark.parametrize("people", [(3, 0, 5, 1), (0, 0), (2,)])
@pytest.mark.parametrize("indicator", ["iou", "oks"])
def test_batch_targets_are_each_images_own(people: tuple[int, ...], indicator: str) -> None:
    assigner = {"dynamic_k_indicator": indicator, "use_keypoints_for_center": True, "vis_weight": 1.0}
    head = build("head", {"type": "RTMOHead", **RTMOHead.example_config, "assigner": assigner})
    batch = one_stage_batch(seed=len(people), people=people, size=SIZE)
    priors, cls, obj, bbox, kpt, vis = predictions(head, len(people), seed=len(people))
    together = head.targets(priors, cls, obj, bbox, kpt, vis, batch)
    parts = [
        head.targets(priors, *(x[i : i + 1] for x in (cls, obj, bbox, kpt, vis)), alone(batch, i))
        for i in range(len(people))
    ]
    assert together.num_pos == sum(t.num_pos for t in parts)
    assert (together.num_pos > 0) == (sum(people) > 0)
    for field in Targets.__dataclass_fields__:
        if field != "num_pos":
            want = torch.cat([getattr(t, field) for t in parts])
            assert torch.equal(getattr(together, field), want), field
