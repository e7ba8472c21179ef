"""Mosaic and YOLOXMixUp against MMPose 1.3.2, and the multi-image transforms in a real dataset's pipeline.

Reference: ``fixtures/mix_cases.npz`` from ``fixtures/gen_mix.py`` (MMPose's ``apply_mix`` with its numpy
draws recorded). Images exact; boxes, keypoints and areas within 1e-5 (float32 arithmetic).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import posekit
from posekit.structures import PoseSample

FIXTURE = Path(__file__).parent / "fixtures" / "mix_cases.npz"
GENERATOR = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-yolox-train/tests/fixtures/gen_mix.py"
FIELDS = ("img", "bbox", "keypoints", "keypoints_visible", "area")


def _sample(data: Any, prefix: str) -> PoseSample:
    img = data[f"{prefix}img"]
    return PoseSample(
        img=img.copy(),
        img_shape=img.shape[:2],
        bbox=data[f"{prefix}bbox"].copy(),
        bbox_score=np.ones(len(data[f"{prefix}bbox"]), np.float32),
        keypoints=data[f"{prefix}keypoints"].copy(),
        keypoints_visible=data[f"{prefix}keypoints_visible"].copy(),
        area=data[f"{prefix}area"].copy(),
        flip_indices=[int(i) for i in data["flip_indices"]],
    )


def _compare(out: PoseSample, data: Any, case: str) -> None:
    where = f"{FIXTURE.name}:{case} (regenerate with {GENERATOR})"
    np.testing.assert_array_equal(out.img, data[f"{case}_out_img"], err_msg=where)
    for field in FIELDS[1:]:
        expected = data[f"{case}_out_{field}"]
        np.testing.assert_allclose(getattr(out, field), expected, rtol=1e-5, atol=1e-4, err_msg=where)


@pytest.mark.parametrize("case", ["mosaic0", "mosaic1", "mosaic2"])
def test_mosaic_matches_mmpose(case: str) -> None:
    with np.load(FIXTURE) as data:
        scale = tuple(int(v) for v in data["img_scale"])
        mosaic = posekit.build("transform", {"type": "Mosaic", "img_scale": scale, "pad_val": 114.0})
        samples = [_sample(data, f"{case}_in{j}_") for j in range(4)]
        cx, cy = (int(v) for v in data[f"{case}_draws"])
        _compare(mosaic.combine(samples[0], samples[1:], (cx, cy)), data, case)


@pytest.mark.parametrize("case", ["mixup0", "mixup1", "mixup2", "mixup3"])
def test_mixup_matches_mmpose(case: str) -> None:
    with np.load(FIXTURE) as data:
        scale = tuple(int(v) for v in data["img_scale"])
        cfg = {"type": "YOLOXMixUp", "img_scale": scale, "ratio_range": (0.8, 1.6), "pad_val": 114.0}
        mixup = posekit.build("transform", cfg)
        sample, aux = _sample(data, f"{case}_in0_"), _sample(data, f"{case}_in1_")
        jit, flip, dx, dy = data[f"{case}_draws"]
        _compare(mixup.combine(sample, aux, float(jit), bool(flip), (int(dx), int(dy))), data, case)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    cmd = [sys.executable, "-m", "posekit", "data", "synth", "--out", str(out), "--num-train", "6", "--num-val", "1"]
    subprocess.run([*cmd, "--size", "64x48", "--seed", "3", "--force"], check=True, capture_output=True)
    return out


def _dataset(root: Path, pipeline: list[dict[str, Any]], seed: int = 0) -> Any:
    cfg = {
        "type": "CocoDataset",
        "data_root": str(root),
        "ann_file": "annotations/person_keypoints_train2017.json",
        "data_prefix": {"img": "train2017/"},
        "data_mode": "bottomup",
        "pipeline": pipeline,
        "seed": seed,
    }
    return posekit.build("dataset", cfg)


PIPELINE: list[dict[str, Any]] = [
    {"type": "LoadImage"},
    {"type": "Mosaic", "img_scale": (64, 64), "pad_val": 114.0, "pre_transform": [{"type": "LoadImage"}]},
    {
        "type": "BottomupRandomAffine",
        "input_size": (64, 64),
        "shift_factor": 0.1,
        "rotate_factor": 10,
        "scale_factor": (0.75, 1.0),
        "pad_val": 114,
        "distribution": "uniform",
        "transform_mode": "perspective",
        "bbox_keep_corner": False,
        "clip_border": True,
    },
    {"type": "YOLOXMixUp", "img_scale": (64, 64), "ratio_range": (0.8, 1.6), "pre_transform": [{"type": "LoadImage"}]},
    {"type": "YOLOXHSVRandomAug"},
    {"type": "RandomFlip"},
    {"type": "FilterAnnotations", "by_kpt": True, "by_box": True, "keep_empty": False},
]


def test_rtmo_stage1_pipeline_keeps_annotations_on_the_image(synth: Path) -> None:
    """RTMO's stage-1 augmentations in a real dataset: instances follow the pixels and stay consistent."""
    dataset = _dataset(synth, PIPELINE)
    total = 0
    for i in range(len(dataset)):
        s = dataset[i]
        n = s.num_instances
        total += n
        assert s.img.shape == (64, 64, 3) and s.img.dtype == np.uint8
        assert len(s.bbox) == n and s.keypoints.shape[:1] == (n,) and s.keypoints_visible.shape[:1] == (n,)
        assert len(s.area) == n and len(s.bbox_score) == n
        # inside the image (a flip maps x to 63 - x, as MMPose's, so a box clipped at 64 reaches -1)
        assert (s.bbox >= -1).all() and (s.bbox[:, 0::2] <= 64).all() and (s.bbox[:, 1::2] <= 64).all()
        assert ((s.bbox[:, 2] - s.bbox[:, 0] > 1) & (s.bbox[:, 3] - s.bbox[:, 1] > 1)).all()  # FilterAnnotations
        visible = s.keypoints[s.keypoints_visible > 0]
        assert ((visible >= -1) & (visible <= 64)).all()
        assert ((s.keypoints_visible > 0).sum(1) >= 1).all()
    assert total > len(dataset)  # the mixed-in images brought instances
    again = _dataset(synth, PIPELINE)
    np.testing.assert_array_equal(again[2].img, dataset[2].img)  # seeded: the same augmentations


def test_mosaic_pastes_each_image_with_its_instances(synth: Path) -> None:
    """Without other transforms, the mosaic's instances are the four images' instances, scaled and moved."""
    mosaic = {"type": "Mosaic", "img_scale": (64, 48), "pre_transform": [{"type": "LoadImage"}]}
    pipeline = [{"type": "LoadImage"}, mosaic]
    dataset = _dataset(synth, pipeline, seed=1)
    plain = _dataset(synth, [{"type": "LoadImage"}])
    sample = dataset[0]
    assert sample.img.shape == (96, 128, 3)
    counts = [plain[i].num_instances for i in range(len(plain))]
    assert sample.num_instances >= counts[0] and sample.num_instances <= counts[0] + 3 * max(counts)
    first = plain[0]  # the sample itself is the top-left quarter: scaled by 1 (64x48 fits), shifted to it
    shift = (sample.keypoints[: first.num_instances] - first.keypoints).reshape(-1, 2)  # boxes get clipped
    assert np.allclose(shift, shift[0])  # one shift (the quarter may crop the image: negative)


def test_mix_transforms_need_a_dataset() -> None:
    mosaic = posekit.build("transform", {"type": "Mosaic", "img_scale": (8, 8)})
    sample = PoseSample(img=np.zeros((8, 8, 3), np.uint8), img_shape=(8, 8))
    with pytest.raises(posekit.errors.DataError, match="runs in a dataset's pipeline"):
        mosaic(sample)


def test_filter_annotations_as_mmpose() -> None:
    """MMPose's quirk kept: ``keep_empty=True`` drops a sample left with no instance."""
    kpts = np.zeros((3, 2, 2), np.float32)
    visible = np.array([[1, 1], [0, 0], [1, 0]], np.float32)
    bbox = np.array([[0, 0, 5, 5], [0, 0, 5, 5], [0, 0, 1, 5]], np.float32)

    def sample() -> PoseSample:
        return PoseSample(bbox=bbox.copy(), keypoints=kpts.copy(), keypoints_visible=visible.copy(), area=np.ones(3))

    by_kpt = posekit.build("transform", {"type": "FilterAnnotations"})
    assert by_kpt(sample()).num_instances == 2
    both = posekit.build("transform", {"type": "FilterAnnotations", "by_box": True, "keep_empty": False})
    kept = both(sample())
    assert kept.num_instances == 1 and kept.bbox.tolist() == [[0, 0, 5, 5]] and len(kept.area) == 1
    strict = {"type": "FilterAnnotations", "min_kpt_vis": 3}
    assert posekit.build("transform", strict)(sample()) is None
    assert posekit.build("transform", {**strict, "keep_empty": False})(sample()).num_instances == 0
