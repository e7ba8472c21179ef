"""MMPose's dataset types against MMPose 1.3.2's own parsing of the same files.

``fixtures/datasets.json`` (written by ``benchmarks/fixtures/gen_fidelity.py --only datasets``) holds,
per case, the dataset type, its annotation file (one of ``shared/data``, or a small file derived
from one, stored inline) and every sample MMPose's ``get_data_info`` returned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posekit import list_components
from posekit.errors import ConfigError, DataError, UnknownComponentError
from posekit.metainfo import load_metainfo
from posekit.registry import build

FIXTURES = Path(__file__).parent / "fixtures"
CASES = json.loads((FIXTURES / "datasets.json").read_text())["cases"]
CONFIGS = Path(__file__).parents[4] / "shared" / "mmpose-configs"


def definition(num_keypoints: int, name: str = "test") -> dict[str, Any]:
    """A keypoint definition of ``num_keypoints`` unnamed, unpaired keypoints."""
    return {
        "dataset_name": name,
        "keypoint_info": {i: {"name": f"k{i}", "id": i} for i in range(num_keypoints)},
        "joint_weights": [1.0] * num_keypoints,
        "sigmas": [0.05] * num_keypoints,
    }


def default_definition_or_built(type_: str, num_keypoints: int) -> dict[str, Any] | None:
    """None (the type's own default) when its definition is registered, else one built here."""
    cls = build("dataset", {"type": type_, "lazy_init": True, "metainfo": definition(num_keypoints)}).__class__
    default = getattr(cls, "METAINFO", None)
    try:
        if default is not None and load_metainfo(default).num_keypoints == num_keypoints:
            return None
    except UnknownComponentError:
        pass
    return definition(num_keypoints)


def _field(sample: Any, name: str) -> Any:
    if name in ("img_id", "img_path"):
        return getattr(sample, name)
    if name == "id":
        return sample.extra["ids"] if sample.id == -1 and "ids" in sample.extra else sample.id
    if name in ("box_size", "head_size"):
        return sample.extra.get(name)
    return getattr(sample, name)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_samples_match_mmpose(case: dict[str, Any], shared: Path, tmp_path: Path) -> None:
    if case["annotation"] is not None:
        ann_file = tmp_path / f"{case['name']}.json"
        ann_file.write_text(json.dumps(case["annotation"]))
    else:
        ann_file = shared / case["ann_file"]
    kwargs = dict(case["kwargs"])
    kwargs["data_prefix"] = {"img": kwargs["data_prefix"]["img"]}
    cfg = {"type": case["type"], "ann_file": str(ann_file), **kwargs}
    metainfo = default_definition_or_built(case["type"], case["num_keypoints"])
    if metainfo is not None:
        cfg["metainfo"] = metainfo
    dataset = build("dataset", cfg)
    assert dataset.metainfo.num_keypoints == case["num_keypoints"]
    assert len(dataset) == len(case["samples"]), f"{case['name']}: sample count"
    for i, ref in enumerate(case["samples"]):
        sample = dataset.get_data_info(i)
        for name, value in ref.items():
            got = _field(sample, name)
            where = f"{case['name']} sample {i} ({name})"
            if isinstance(value, str) or name in ("img_id", "id"):
                assert got == value, where
            else:
                np.testing.assert_allclose(
                    np.asarray(got, dtype=np.float64).reshape(-1),
                    np.asarray(value, dtype=np.float64).reshape(-1),
                    rtol=1e-6,
                    err_msg=where,
                )


def test_every_dataset_type_of_mmpose_configs_is_registered() -> None:
    """Every ``*Dataset`` type MMPose's configs name (shared/mmpose-configs) is a registered dataset."""
    import re

    named = set()
    for path in CONFIGS.rglob("*.py"):
        named |= set(re.findall(r"type\s*=\s*'([A-Za-z0-9]+Dataset)'", path.read_text()))
    installed = set(list_components("dataset")["dataset"])
    # not built here: not COCO-format (InterHand's 2D/3D camera files)
    outside = {"InterHand2DDoubleDataset", "InterHand3DDataset"}
    assert named, f"no configs under {CONFIGS}"
    assert named - outside <= installed, f"not registered: {sorted(named - outside - installed)}"


def test_center_scale_boxes_and_hands_by_hand(shared: Path) -> None:
    wflw = build("dataset", {"type": "WFLWDataset", "ann_file": str(shared / "data/wflw/test_wflw.json")})
    ann = json.loads((shared / "data/wflw/test_wflw.json").read_text())["annotations"][0]
    side = ann["scale"] * 200
    np.testing.assert_allclose(
        wflw.get_data_info(0).bbox[0],
        [
            ann["center"][0] - side / 2,
            ann["center"][1] - side / 2,
            ann["center"][0] + side / 2,
            ann["center"][1] + side / 2,
        ],
        rtol=1e-6,
    )
    hands = build(
        "dataset",
        {
            "type": "CocoWholeBodyHandDataset",
            "ann_file": str(shared / "data/coco/test_coco_wholebody.json"),
            "metainfo": definition(21),
        },
    )
    assert [hands.get_data_info(i).id for i in range(len(hands))] == list(range(len(hands)))


def test_halpe_hands_are_coco_wholebody_hands(shared: Path, tmp_path: Path) -> None:
    """Halpe's 136 keypoints (hands at 94-135) give the hands CocoWholeBodyHandDataset reads, boxed tightly."""
    source = shared / "data/coco/test_coco_wholebody.json"
    data = json.loads(source.read_text())
    for ann in data["annotations"]:
        hands = ann["lefthand_kpts"] + ann["righthand_kpts"]
        ann["keypoints"] = ann["keypoints"] + [0] * 9 * 3 + ann["face_kpts"] + hands  # 26 + 68 + 42
    halpe_file = tmp_path / "halpe_val_v1.json"
    halpe_file.write_text(json.dumps(data))
    halpe = build("dataset", {"type": "HalpeHandDataset", "ann_file": str(halpe_file)})
    wholebody = build("dataset", {"type": "CocoWholeBodyHandDataset", "ann_file": str(source)})
    assert len(halpe) == len(wholebody) > 0
    for i in range(len(halpe)):
        a, b = halpe.get_data_info(i), wholebody.get_data_info(i)
        assert (a.id, a.img_id, a.img_path) == (b.id, b.img_id, b.img_path)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.keypoints_visible, b.keypoints_visible)
        labelled = a.keypoints[0][a.keypoints_visible[0] > 0]
        np.testing.assert_allclose(a.bbox[0], [*labelled.min(0), *labelled.max(0)], rtol=1e-6)
    data["annotations"][0]["keypoints"] = data["annotations"][0]["keypoints"][:-3]
    halpe_file.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"halpe_val_v1.json: annotation id \d+ has 405 keypoint values"):
        build("dataset", {"type": "HalpeHandDataset", "ann_file": str(halpe_file)})


def test_deepfashion_subset_is_checked() -> None:
    with pytest.raises(ConfigError, match="subset"):
        build("dataset", {"type": "DeepFashionDataset", "subset": "middle", "lazy_init": True})


def test_deepfashion_subset_names_its_definition() -> None:
    """config check reads DeepFashion's definition from ``subset`` (an 8/6/4-keypoint head each)."""
    from posekit.metainfo.consistency import dataset_default_metainfo

    for subset, name in (("", "deepfashion_full"), ("upper", "deepfashion_upper"), ("lower", "deepfashion_lower")):
        assert dataset_default_metainfo({"type": "DeepFashionDataset", "subset": subset}) == name
    assert dataset_default_metainfo({"type": "CocoDataset"}) == "coco"
    assert dataset_default_metainfo({"type": "NoSuchDataset"}) is None
