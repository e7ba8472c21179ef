"""Keypoint definitions: the shipped ones against MMPose, user files, and bad definitions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import posekit
from posekit.errors import ConfigError, UnknownComponentError
from posekit.metainfo import DefinitionFileNotFoundError, KeypointInfo, load_metainfo

SHIPPED = {
    "coco": 17,
    "coco_wholebody": 133,
    "mpii": 16,
    "crowdpose": 14,
    "h36m": 17,
    "ap10k": 17,
    "onehand10k": 21,
    "wflw": 98,
    "posetrack18": 17,
}

COCO_SIGMAS = (0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087)
COCO_SIGMAS += (0.087, 0.089, 0.089)


@pytest.mark.parametrize(("name", "num"), sorted(SHIPPED.items()))
def test_shipped_definition_loads(name: str, num: int) -> None:
    info = load_metainfo(name)
    assert info.dataset_name == name
    assert info.num_keypoints == num == len(info.keypoint_names) == len(info.joint_weights)
    flip = np.array(info.flip_indices)
    assert sorted(flip) == list(range(num)), "flip indices are a permutation"
    assert (flip[flip] == np.arange(num)).all(), "flipping twice is the identity"
    assert info.sigmas is None or len(info.sigmas) == num
    assert set(info.upper_body_ids).isdisjoint(info.lower_body_ids)


def test_shipped_names_are_registered() -> None:
    assert set(SHIPPED) <= set(posekit.list_components("metainfo")["metainfo"])


@pytest.mark.parametrize(
    ("name", "flip_indices"),
    [
        ("coco", (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)),
        ("posetrack18", (0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)),
        ("mpii", (5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10)),
        ("crowdpose", (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13)),
        ("h36m", (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)),
        ("ap10k", (1, 0, 2, 3, 4, 8, 9, 10, 5, 6, 7, 14, 15, 16, 11, 12, 13)),
        ("onehand10k", tuple(range(21))),
    ],
)
def test_flip_indices(name: str, flip_indices: tuple[int, ...]) -> None:
    assert load_metainfo(name).flip_indices == flip_indices


def test_large_definitions_flip_partners() -> None:
    wflw = load_metainfo("wflw")
    assert wflw.flip_indices[:3] == (32, 31, 30) and wflw.flip_indices[16] == 16
    assert wflw.flip_indices[60] == 72 and wflw.flip_indices[96] == 97 and wflw.flip_indices[94] == 94
    assert wflw.skeleton_links == ()
    whole = load_metainfo("coco_wholebody")
    assert whole.flip_indices[:17] == load_metainfo("coco").flip_indices
    assert whole.flip_indices[17:23] == (20, 21, 22, 17, 18, 19)  # feet
    assert whole.flip_indices[23] == 39 and whole.flip_indices[31] == 31  # face-0 <-> face-16, face-8
    assert whole.flip_indices[91] == 112 and whole.flip_indices[132] == 111  # hand roots, pinky tips
    assert len(whole.skeleton_links) == 65 and whole.sigmas is not None and whole.sigmas[17] == 0.068


def test_sigmas_and_weights() -> None:
    coco = load_metainfo("coco")
    assert coco.sigmas == COCO_SIGMAS
    assert coco.joint_weights[9] == 1.5 and coco.joint_weights[7] == 1.2
    assert load_metainfo("posetrack18").sigmas == COCO_SIGMAS
    assert load_metainfo("mpii").sigmas[12] == 0.179
    assert load_metainfo("crowdpose").joint_weights[:4] == (0.2, 0.2, 0.2, 1.3)
    for name in ("h36m", "onehand10k", "wflw"):
        assert load_metainfo(name).sigmas is None, name
    assert load_metainfo("h36m").stats_info.bbox_scale == 400.0


def _mmpose_dataset_meta(checkpoint: Path) -> dict:
    import torch

    numpy_globals = [
        (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        np.dtypes.Float32DType,
        np.dtypes.UInt8DType,
        np.dtypes.Int64DType,
        np.dtypes.Float64DType,
        bytes,
    ]
    with torch.serialization.safe_globals(numpy_globals):
        return torch.load(checkpoint, weights_only=True, map_location="cpu")["meta"]["dataset_meta"]


def _assert_same(ref: object, got: object, where: str) -> None:
    if isinstance(ref, np.ndarray):
        assert isinstance(got, np.ndarray), where
        assert (ref.dtype, ref.shape) == (got.dtype, got.shape) and (ref == got).all(), f"{where}: {got} != {ref}"
    elif isinstance(ref, dict):
        assert isinstance(got, dict) and set(ref) == set(got), f"{where}: keys {set(ref) ^ set(got)}"
        for key in ref:
            _assert_same(ref[key], got[key], f"{where}.{key}")
    else:
        assert ref == got and type(ref) is type(got), f"{where}: {got!r} != {ref!r}"


@pytest.mark.parametrize(
    ("model", "name"), [("rtmpose-t_coco-256x192", "coco"), ("videopose3d-27frm-c256_h36m", "h36m")]
)
def test_dataset_meta_matches_mmpose_checkpoint(shared: Path, model: str, name: str) -> None:
    checkpoint = shared / "fixtures/mmpose/models" / model / "checkpoint.pth"
    ref = _mmpose_dataset_meta(checkpoint)
    _assert_same(ref, load_metainfo(name).to_dataset_meta(), f"{checkpoint} meta.dataset_meta")


# ---- user definitions ----

TINY = {
    "dataset_name": "tiny",
    "keypoint_info": {
        0: {"name": "head", "id": 0, "color": [255, 0, 0], "type": "upper", "swap": ""},
        1: {"name": "left_hand", "id": 1, "type": "upper", "swap": "right_hand"},
        2: {"name": "right_hand", "id": 2, "type": "upper", "swap": "left_hand"},
    },
    "skeleton_info": {0: {"link": ["head", "left_hand"]}, 1: {"link": ["head", "right_hand"], "color": [0, 0, 255]}},
    "sigmas": [0.1, 0.2, 0.2],
}


def test_user_yaml_and_json_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "tiny.yaml"
    yaml_file.write_text(yaml.safe_dump(TINY))
    json_file = tmp_path / "tiny.json"
    json_file.write_text(json.dumps({"dataset_info": TINY}))  # MMPose's variable name as a wrapper
    for source in (str(yaml_file), yaml_file, str(json_file)):
        info = load_metainfo(source)
        assert info.keypoint_names == ("head", "left_hand", "right_hand")
        assert info.flip_indices == (0, 2, 1)
        assert info.flip_pairs == ((2, 1), (1, 2))  # both orders, as MMPose
        assert info.skeleton_links == ((0, 1), (0, 2))
        assert info.joint_weights == (1.0, 1.0, 1.0)  # default
        assert info.keypoint_colors[1] == (255, 128, 0) and info.skeleton_link_colors[0] == (96, 96, 255)
    assert load_metainfo(TINY) == load_metainfo(str(yaml_file))
    assert load_metainfo(load_metainfo("coco")) is load_metainfo("coco")


def test_mmpose_from_file_resolves_to_registered_name() -> None:
    assert load_metainfo({"from_file": "configs/_base_/datasets/mpii.py"}).dataset_name == "mpii"


def test_registry_builds_metainfo() -> None:
    assert isinstance(posekit.build("metainfo", "crowdpose"), KeypointInfo)


def test_definition_is_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        load_metainfo("coco").dataset_name = "x"  # type: ignore[misc]


def test_plugin_definition_by_name(throwaway, tmp_path: Path) -> None:
    definition = tmp_path / "mine.yaml"
    definition.write_text(yaml.safe_dump(TINY))
    throwaway(
        "posekit-mykeypoints",
        {"posekit.metainfo": {"tiny": "posekit_mykeypoints:DEFINITION"}},
        modules={"posekit_mykeypoints": f"DEFINITION = {str(definition)!r}\n"},
    )
    assert load_metainfo("tiny").num_keypoints == 3
    assert load_metainfo("posekit-mykeypoints:tiny").dataset_name == "tiny"


def _mutate(path: list, value: object) -> dict:
    data = json.loads(json.dumps(TINY))
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()

BAD = [
    (["joint_weights"], [1.0, 1.0], "joint_weights: 2 values for 3 keypoints"),
    (["sigmas"], [0.1], "sigmas: 1 values for 3 keypoints"),
    (["sigmas"], [0.1, 0.0, 0.1], "sigmas.1: Input should be greater than 0"),
    (["keypoint_info", "1", "swap"], "rigth_hand", "keypoint_info.1.swap: unknown keypoint 'rigth_hand'; did you mean"),
    (["keypoint_info", "2", "swap"], "", "keypoint_info.1.swap: 'left_hand' swaps with 'right_hand', but"),
    (["skeleton_info", "0", "link"], ["head", "tail"], "skeleton_info.0.link: unknown keypoint 'tail'"),
    (["keypoint_info", "2", "name"], "head", "keypoint_info.2.name: 'head' is also the name of keypoint 0"),
    (["keypoint_info", "2", "id"], 5, "keypoint_info.2.id: 5 differs from its key 2"),
    (["keypoint_info", "0", "colour"], [1, 2, 3], "keypoint_info.0.colour: unknown field"),
    (["keypoint_info", "0", "color"], [256, 0, 0], "keypoint_info.0.color.0:"),
    (["keypoint_info", "0", "type"], "middle", "keypoint_info.0.type:"),
    (["dataset_name"], _DELETE, "dataset_name: required field is missing"),
    (["keypoint_info", "0"], _DELETE, "keypoint_info: keys must be the ids 0..1"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD, ids=[b[2].split(":")[0] for b in BAD])
def test_bad_definition_names_file_and_field(tmp_path: Path, path: list, value: object, expected: str) -> None:
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(_mutate(path, value)))
    with pytest.raises(ConfigError) as info:
        load_metainfo(str(file))
    assert str(file) in str(info.value)
    assert expected in str(info.value)


def test_one_way_swap_read_as_mmpose_when_declared(tmp_path: Path) -> None:
    # MMPose's parse_pose_metainfo: each keypoint flips to its own `swap`, whether or not it is returned
    data = _mutate(["keypoint_info", "2", "swap"], "")
    file = tmp_path / "one_way.json"
    file.write_text(json.dumps({**data, "one_way_swaps": True}))
    assert load_metainfo(str(file)).flip_indices == (0, 2, 2)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionFileNotFoundError, match=r"nope.yaml does not exist") as info:
        load_metainfo(str(tmp_path / "nope.yaml"))
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.yaml", "dataset_name: [unclosed\n", "(?s)cannot parse: .*line 1"),
        ("bad.json", '{"dataset_name": "x",', "(?s)cannot parse: .*line 1"),
        ("bad.json", b'{"dataset_name": "\xff"}', "(?s)cannot parse: .*utf-8"),
        ("list.yaml", "- 1\n- 2\n", "the top level must be a mapping, got list"),
        ("coco.py", "dataset_info = dict()\n", "posekit never executes config code"),
    ],
)
def test_unreadable_file(tmp_path: Path, name: str, text: str | bytes, expected: str) -> None:
    file = tmp_path / name
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=expected) as info:
        load_metainfo(str(file))
    assert str(file) in str(info.value)


def test_unknown_name_lists_registered() -> None:
    with pytest.raises(UnknownComponentError, match="Did you mean: coco") as info:
        load_metainfo("cocoo")
    assert "mpii" in str(info.value) and "YAML/JSON" in str(info.value)


def test_import_is_cheap() -> None:
    code = (
        "import sys, posekit.metainfo; from posekit.metainfo import load_metainfo; "
        "print([m for m in ('torch', 'numpy', 'pydantic', 'yaml') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"import posekit.metainfo imported {out.strip()}"


def _hrnet(shared: Path, out_channels: int) -> dict:
    model = json.loads((shared / "fixtures/mmpose/models/hrnet-w18_coco-256x192/config.json").read_text())
    model["head"]["out_channels"] = out_channels
    return model


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"metainfo": "coco"}, r"predicts 133 keypoints \(model\.head\.out_channels\).*'coco' \(metainfo\) has 17"),
        (
            {"data": {"val": {"dataset": {"type": "CocoDataset", "ann_file": "a.json"}}}},
            r"predicts 133 .*'coco' \(the default of CocoDataset at data\.val\.dataset\) has 17",
        ),
        (
            {"data": {"val": {"dataset": {"type": "CocoDataset", "metainfo": "mpii"}}}},
            r"predicts 133 .*'mpii' \(data\.val\.dataset\.metainfo\) has 16",
        ),
    ],
)
def test_config_check_refuses_head_k_against_definition(shared: Path, extra: dict, expected: str) -> None:
    from posekit.config import validate_experiment

    with pytest.raises(ConfigError, match=expected):
        validate_experiment({"model": _hrnet(shared, 133), **extra}, "exp.yaml")
    validate_experiment({"model": _hrnet(shared, 133), "metainfo": "coco_wholebody"}, "exp.yaml")


def test_init_model_refuses_head_k_against_definition(shared: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"predicts 133 .*'coco' \(the default: nothing names a keypoint definition\)"
    ):
        posekit.init_model(_hrnet(shared, 133))
    with pytest.raises(ConfigError, match=r"predicts 16 .*'coco' \(metainfo\) has 17"):
        posekit.init_model({"model": _hrnet(shared, 16), "metainfo": "coco"})
    model = posekit.init_model({"model": _hrnet(shared, 16), "metainfo": "mpii"})
    assert model.dataset_meta["num_keypoints"] == 16


def test_codec_maps_head_outputs_to_definition_keypoints(shared: Path) -> None:
    """UDP's combined maps are 3 channels a keypoint: 51 channels cover COCO's 17, 17 channels do not."""
    from posekit.config import validate_experiment

    model = _hrnet(shared, 51)
    model["head"]["decoder"] = {
        "type": "UDPHeatmap",
        "input_size": [192, 256],
        "heatmap_size": [48, 64],
        "heatmap_type": "combined",
    }
    validate_experiment({"model": model, "metainfo": "coco"}, "exp.yaml")
    assert posekit.init_model({"model": model, "metainfo": "coco"}).dataset_meta["num_keypoints"] == 17
    model["head"]["out_channels"] = 17
    with pytest.raises(
        ConfigError, match=r"predicts 5 keypoints \(model\.head\.out_channels = 17 outputs of UDPHeatmap"
    ):
        validate_experiment({"model": model, "metainfo": "coco"}, "exp.yaml")
