"""RandomChoice and RandomChoiceResize on a shared COCO image: annotations follow the pixels; draws are seeded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from posekit_datasets.choice import RandomChoice, RandomChoiceResize

from posekit.errors import PosekitError
from posekit.registry import build
from posekit.structures import PoseSample
from posekit.transforms.geometry import transform_points


@pytest.mark.parametrize(("keep_ratio", "size"), [(True, (640, 426)), (False, (480, 640))])
def test_resize_moves_annotations_with_the_image(
    posekit_samples: Any, shared: Path, keep_ratio: bool, size: tuple[int, int]
) -> None:
    sample = posekit_samples.coco_sample(shared, 40083)  # 500 x 333, three people
    before = sample.keypoints.copy(), sample.bbox.copy(), sample.area.copy()
    isolated = posekit_samples.isolated_keypoints(before[0][0]) & (sample.keypoints_visible[0] > 0)
    out = build("transform", {"type": "RandomChoiceResize", "scales": [(480, 640)], "keep_ratio": keep_ratio})(sample)
    # keep_ratio: 500 x 333 grows by min(640 / 500, 480 / 333) = 1.28 -> 640 x 426
    w, h = size
    assert out.img.shape == (h, w, 3) and out.img_shape == (h, w)
    factor = np.array([w / 500, h / 333], np.float32)
    np.testing.assert_allclose(out.keypoints, np.clip(before[0] * factor, 0, [w, h]), rtol=1e-6)
    np.testing.assert_allclose(out.bbox, np.clip(before[1] * np.tile(factor, 2), 0, [w, h, w, h]), rtol=1e-6)
    np.testing.assert_allclose(out.area, before[2] * factor.prod(), rtol=1e-5)
    np.testing.assert_allclose(transform_points(before[0], out.warp_mat), out.keypoints, rtol=1e-5)
    posekit_samples.assert_dots_follow(out, out.keypoints[0], isolated, list(range(17)))


def test_resize_backends_and_arguments(posekit_samples: Any, shared: Path) -> None:
    cv2_out = RandomChoiceResize(scales=(320, 240))(posekit_samples.coco_sample(shared, 40083))
    pil_out = RandomChoiceResize(scales=(320, 240), backend="pillow")(posekit_samples.coco_sample(shared, 40083))
    assert cv2_out.img.shape == pil_out.img.shape == (240, 320, 3)
    assert np.abs(cv2_out.img.astype(int) - pil_out.img).mean() < 8
    posekit_samples.assert_seeded(RandomChoiceResize(scales=[(64, 64), (96, 80), (128, 96)]))
    with pytest.raises(ValueError, match="pillow backend has no 'area'"):
        RandomChoiceResize(scales=(32, 32), backend="pillow", interpolation="area")
    with pytest.raises(PosekitError, match="resize_type"):
        build("transform", {"type": "RandomChoiceResize", "scales": [(32, 32)], "resize_type": "RandomResize"})


def _flip() -> dict:
    return {"type": "RandomFlip", "prob": 1.0}


def test_random_choice_runs_one_sub_pipeline(posekit_samples: Any, shared: Path) -> None:
    resize = {"type": "RandomChoiceResize", "scales": [(100, 80)]}
    choice = {"type": "RandomChoice", "transforms": [[_flip()], [resize, _flip()]]}
    chosen = []
    for seed in range(12):
        out = build("transform", {**choice, "prob": [0.25, 0.75]})(posekit_samples.coco_sample(shared, 40083, seed))
        assert out.flip, "each sub-pipeline flips"
        chosen.append(out.img.shape[:2] == (80, 100))
    assert 0 < sum(chosen) < 12, "both sub-pipelines are drawn"
    only_second = build("transform", {**choice, "prob": [0.0, 1.0]})
    assert all(only_second(posekit_samples.coco_sample(shared, 40083, s)).img.shape[:2] == (80, 100) for s in range(4))
    posekit_samples.assert_seeded(build("transform", {"type": "RandomChoice", "transforms": [[resize], [_flip()]]}))


class _Recorder:
    """A step that mixes in other samples: records the dataset it was given."""

    needs_dataset = True

    def __call__(self, sample: PoseSample, dataset: object = None) -> PoseSample:
        sample.extra["dataset"] = dataset
        return sample


def test_random_choice_drops_and_hands_on_the_dataset() -> None:
    sample = PoseSample(img_id=1)
    assert RandomChoice([[lambda s: None, _Recorder()]])(sample) is None, "a dropped sample stays dropped"
    dataset = object()
    assert RandomChoice([_Recorder()])(PoseSample(), dataset=dataset).extra["dataset"] is dataset


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"transforms": [[_flip()], [_flip()]], "prob": [1.0]}, "1 probabilities for 2 sub-pipelines"),
        ({"transforms": [[_flip()], [_flip()]], "prob": [0.5, 0.6]}, "sum to 1"),
        ({"transforms": []}, "transforms is empty"),
        ({"transforms": [[{"type": "RandomFlipp"}]]}, "RandomFlipp"),
        ({"transforms": [[{"type": "RandomFlip", "prob": "x"}]]}, "prob"),
    ],
)
def test_random_choice_refuses_bad_configs(cfg: dict, message: str) -> None:
    with pytest.raises((PosekitError, ValueError), match=message):
        build("transform", {"type": "RandomChoice", **cfg})
