"""Loaders: seeded order and workers, collation into PoseBatch, distributed sampling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler, RandomSampler, SequentialSampler

from posekit.data import build_dataloader, pose_collate, set_epoch
from posekit.errors import DataError
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample


def coco_dataset(**kwargs: Any) -> Any:
    """A ``CocoDataset`` (posekit-datasets), built by registry name."""
    return build("dataset", {"type": "CocoDataset", **kwargs})


NUM = 10  # instances, one per image


@pytest.fixture
def ann_file(tmp_path: Path) -> str:
    """A COCO keypoint file of NUM one-person images."""
    rng = np.random.default_rng(0)
    images = [{"id": i + 1, "file_name": f"{i + 1}.jpg", "width": 64, "height": 48} for i in range(NUM)]
    anns = []
    for i in range(NUM):
        kpts = np.concatenate([rng.uniform(5, 40, (17, 2)), np.full((17, 1), 2.0)], axis=1)
        box = [2.0 + i, 3.0, 30.0, 40.0]
        anns.append(
            {"id": 100 + i, "image_id": i + 1, "category_id": 1, "bbox": box, "keypoints": kpts.ravel().tolist()}
        )
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return str(path)


class Pack:
    """A stand-in pipeline end: inputs (3, 8, 6), targets of fixed and of varying shape, two draws."""

    def __init__(self, varying: bool = False) -> None:
        self.varying = varying

    def __call__(self, sample: PoseSample) -> PoseSample:
        sample.inputs = torch.full((3, 8, 6), sample.id % 256, dtype=torch.uint8)
        sample.targets = {
            "heatmaps": np.zeros((17, 4, 3), np.float32),
            "keypoint_weights": np.ones((1, 17), np.float32),
        }
        if self.varying:
            sample.targets["keypoint_indices"] = np.zeros((sample.id % 3 + 1, 17, 2), np.int64)
        sample.extra["global_draw"] = float(np.random.random())  # numpy's global state: seeded per worker
        sample.extra["sample_draw"] = float(sample.rng.random()) if sample.rng is not None else None
        sample.img = np.zeros((8, 6, 3), np.uint8)
        return sample


def _ids(loader) -> list[int]:
    return [s.id for batch in loader for s in batch.samples]


def test_collate_shapes(ann_file: str) -> None:
    ds = coco_dataset(ann_file=ann_file, pipeline=[Pack(varying=True)])
    batch = pose_collate([ds[i] for i in range(4)])
    assert isinstance(batch, PoseBatch) and len(batch) == 4
    assert batch.inputs.shape == (4, 3, 8, 6) and batch.inputs.dtype == torch.uint8
    assert batch.targets["heatmaps"].shape == (4, 17, 4, 3)
    assert batch.targets["keypoint_weights"].shape == (4, 1, 17)
    varying = batch.targets["keypoint_indices"]  # 1, 2, 3, 1 instances: kept as a list
    assert isinstance(varying, list) and [t.shape[0] for t in varying] == [2, 3, 1, 2]
    s = batch.samples[0]
    assert s.img is None and s.inputs is None and s.targets == {} and s.rng is None
    assert s.id == 100 and s.keypoints.shape == (1, 17, 2)  # metadata kept
    moved = batch.to("cpu")
    assert isinstance(moved.targets["keypoint_indices"], list)


def test_collate_errors(ann_file: str) -> None:
    ds = coco_dataset(ann_file=ann_file, pipeline=[Pack()])
    with pytest.raises(DataError, match="have no inputs; end the pipeline with PackPoseInputs"):
        pose_collate([coco_dataset(ann_file=ann_file)[0]])
    odd = ds[1]
    odd.inputs = torch.zeros(3, 9, 6, dtype=torch.uint8)
    with pytest.raises(DataError, match=r"inputs of shapes \[\(3, 8, 6\), \(3, 9, 6\)\] cannot be stacked"):
        pose_collate([ds[0], odd])
    odd = ds[1]
    odd.targets.pop("heatmaps")
    with pytest.raises(DataError, match=r"sample 1 .* has targets"):
        pose_collate([ds[0], odd])


def test_same_seed_same_order(ann_file: str) -> None:
    ds = coco_dataset(ann_file=ann_file, pipeline=[Pack()])
    first = _ids(build_dataloader(ds, batch_size=3, shuffle=True, seed=5))
    assert first == _ids(build_dataloader(ds, batch_size=3, shuffle=True, seed=5))
    assert sorted(first) == list(range(100, 100 + NUM)) and first != sorted(first)
    assert first != _ids(build_dataloader(ds, batch_size=3, shuffle=True, seed=6))
    assert _ids(build_dataloader(ds, batch_size=3)) == list(range(100, 100 + NUM))
    assert len(build_dataloader(ds, batch_size=3, drop_last=True)) == NUM // 3


def test_two_workers(ann_file: str) -> None:
    ds = coco_dataset(ann_file=ann_file, pipeline=[Pack()], seed=11)

    def run(num_workers: int) -> list[tuple[int, float, float]]:
        loader = build_dataloader(ds, batch_size=2, num_workers=num_workers, shuffle=True, seed=3)
        return [(s.id, s.extra["global_draw"], s.extra["sample_draw"]) for batch in loader for s in batch.samples]

    two = run(2)
    assert two == run(2), "same seed, same workers: same order and same draws"
    single = run(0)
    assert [x[0] for x in two] == [x[0] for x in single], "the order does not depend on the workers"
    assert [x[2] for x in two] == [x[2] for x in single], "per-sample streams do not depend on the workers"
    assert two[0][1] != two[2][1], "the two workers (batches 0 and 1) draw different global streams"


def test_set_epoch_reaches_dataset(ann_file: str) -> None:
    ds = coco_dataset(ann_file=ann_file, pipeline=[Pack()], seed=1)
    loader = build_dataloader(ds, batch_size=4, seed=0)
    before = [s.extra["sample_draw"] for b in loader for s in b.samples]
    set_epoch(loader, 3)
    assert ds.epoch == 3 and before != [s.extra["sample_draw"] for b in loader for s in b.samples]


def test_samplers(ann_file: str, tmp_path: Path) -> None:
    ds = coco_dataset(ann_file=ann_file, pipeline=[Pack()])
    assert isinstance(build_dataloader(ds, batch_size=2).sampler, SequentialSampler)
    assert isinstance(build_dataloader(ds, batch_size=2, shuffle=True).sampler, RandomSampler)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        loader = build_dataloader(ds, batch_size=2, shuffle=True, seed=2)
        assert isinstance(loader.sampler, DistributedSampler) and loader.sampler.seed == 2
        order = _ids(loader)
        set_epoch(loader, 1)
        assert loader.sampler.epoch == 1 and sorted(_ids(loader)) == sorted(order) and _ids(loader) != order
        assert isinstance(build_dataloader(ds, batch_size=2, distributed=False).sampler, SequentialSampler)
    finally:
        dist.destroy_process_group()


def test_collate_stacks_multilevel_targets() -> None:
    """GenerateTarget(multilevel=True) leaves a list of L same-shape arrays per sample: (B, L, ...) after collate."""

    def sample(i: int, sizes: tuple[int, ...]) -> PoseSample:
        s = PoseSample(img_id=i, id=i, inputs=torch.zeros(3, 8, 6, dtype=torch.uint8))
        s.targets = {
            "heatmaps": [np.full((17, h, 3), level, np.float32) for level, h in enumerate(sizes)],
            "keypoint_weights": [np.ones((1, 17), np.float32)] * len(sizes),
        }
        return s

    batch = pose_collate([sample(0, (4, 4, 4)), sample(1, (4, 4, 4))])
    assert batch.targets["heatmaps"].shape == (2, 3, 17, 4, 3)
    assert batch.targets["keypoint_weights"].shape == (2, 3, 1, 17)
    assert torch.equal(batch.targets["heatmaps"][1, 2], torch.full((17, 4, 3), 2.0))
    with pytest.raises(DataError, match=r"multilevel target 'heatmaps' of sample img_id 0 has levels of shapes"):
        pose_collate([sample(0, (4, 2)), sample(1, (4, 2))])
