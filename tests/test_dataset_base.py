"""BaseDataset behaviour through a registered dataset: pipeline callables, refetch, seeded sample rngs, and
transforms built by registry name (with their config validated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import posekit
from posekit.errors import ConfigError, DataError
from posekit.structures import PoseSample

COCO = "coco/test_coco.json"


@pytest.fixture(scope="module")
def data(shared: Path) -> Path:
    return shared / "data"


def coco_dataset(**kwargs: Any) -> Any:
    """A ``CocoDataset`` (posekit-datasets), built by registry name."""
    return posekit.build("dataset", {"type": "CocoDataset", **kwargs})


def test_pipeline_callables_and_refetch(data: Path) -> None:
    def tag(sample: PoseSample) -> PoseSample:
        sample.extra["tagged"] = True
        return sample

    ds = coco_dataset(ann_file=str(data / COCO), pipeline=[tag])
    assert ds[0].extra["tagged"]

    def drop_first(sample: PoseSample) -> PoseSample | None:
        return None if sample.id == 442619 else sample

    assert coco_dataset(ann_file=str(data / COCO), pipeline=[drop_first], seed=0)[0].id != 442619
    with pytest.raises(DataError, match="dropped sample 0 in test mode"):
        coco_dataset(ann_file=str(data / COCO), pipeline=[drop_first], test_mode=True)[0]
    with pytest.raises(TypeError, match="returned a dict; a transform takes a PoseSample"):
        coco_dataset(ann_file=str(data / COCO), pipeline=[lambda s: {"img": None}])[0]


def test_seeded_sample_rng(data: Path) -> None:
    def draw(sample: PoseSample) -> PoseSample:
        assert sample.rng is not None
        sample.extra["draw"] = float(sample.rng.random())
        return sample

    ds = coco_dataset(ann_file=str(data / COCO), pipeline=[draw], seed=7)
    first = [ds[i].extra["draw"] for i in range(3)]
    assert first == [ds[i].extra["draw"] for i in range(3)] and len(set(first)) == 3
    ds.set_epoch(1)
    assert ds[0].extra["draw"] != first[0]
    assert coco_dataset(ann_file=str(data / COCO))[0].rng is None


def test_build_from_config_with_registered_transform(data: Path, throwaway) -> None:
    throwaway(
        "posekit-tagger",
        {"posekit.transforms": {"AddTag": "posekit_tagger:AddTag"}},
        modules={
            "posekit_tagger": """
                class AddTag:
                    def __init__(self, tag: str = "x") -> None:
                        self.tag = tag

                    def __call__(self, sample):
                        sample.extra["tag"] = self.tag
                        return sample
            """
        },
    )
    cfg = {"type": "CocoDataset", "ann_file": str(data / COCO), "pipeline": [{"type": "AddTag", "tag": "y"}]}
    ds = posekit.build("dataset", cfg)
    assert ds[0].extra["tag"] == "y"
    with pytest.raises(ConfigError, match=r"pipeline\.0\.tagg|tagg"):
        posekit.build("dataset", {**cfg, "pipeline": [{"type": "AddTag", "tagg": "y"}]})
    with pytest.raises(ConfigError, match="bbox_froom"):
        posekit.build("dataset", {"type": "CocoDataset", "ann_file": str(data / COCO), "bbox_froom": "bbox"})
