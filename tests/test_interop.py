"""MMPose interop: checkpoints load as they are (safely); foreign model dicts are checked before building.

Converting whole MMPose configs is posekit-mmpose's (plugins/posekit-mmpose/tests).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import posekit

MODELS = (
    "rtmpose-t_coco-256x192",
    "simplebaseline-res18-narrow_coco-256x192",
    "hrnet-w18_coco-256x192",
    "ae-hrnet-w18-small_coco-256x256",
    "videopose3d-27frm-c256_h36m",
)


def _folder(shared: Path, name: str) -> Path:
    return shared / "fixtures/mmpose/models" / name


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", MODELS)
def test_mmpose_checkpoint_loads_with_numpy_meta(shared: Path, name: str) -> None:
    folder = _folder(shared, name)
    model = posekit.init_model(
        json.loads((folder / "config.json").read_text()), folder / "checkpoint.pth", optimize=False
    )  # the module as built: its state dict by MMPose's keys
    from posekit.nn import read_checkpoint

    state = read_checkpoint(folder / "checkpoint.pth")["state_dict"]
    own = model.state_dict()
    assert set(state) == set(own), f"{folder / 'checkpoint.pth'}: keys differ from the posekit model's"
    assert all(torch.equal(own[k], v) for k, v in state.items())
    assert model.dataset_meta["dataset_name"] == ("h36m" if "h36m" in name else "coco")
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())


def test_checkpoint_of_another_model_lists_keys(shared: Path) -> None:
    config = json.loads((_folder(shared, "hrnet-w18_coco-256x192") / "config.json").read_text())
    ckpt = _folder(shared, "simplebaseline-res18-narrow_coco-256x192") / "checkpoint.pth"
    with pytest.raises(posekit.CheckpointError, match=r"missing keys: backbone\..*\n.*unexpected keys: backbone\."):
        posekit.init_model(config, ckpt)
    narrow = json.loads((_folder(shared, "simplebaseline-res18-narrow_coco-256x192") / "config.json").read_text())
    narrow["head"]["out_channels"] = 16
    with pytest.raises(posekit.CheckpointError, match=r"mis-shaped keys: head\.final_layer\.weight \(checkpoint \(17,"):
        posekit.init_model(narrow, ckpt)


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_checkpoint_with_arbitrary_objects_is_refused(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(shared, "rtmpose-t_coco-256x192")
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"x": Evil()}}, path)
    with pytest.raises(posekit.CheckpointError, match="which is refused \\(a checkpoint never runs code\\)"):
        posekit.init_model(json.loads((folder / "config.json").read_text()), path)
    assert "never run" not in capsys.readouterr().out


def test_safetensors_checkpoint(shared: Path, tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    folder = _folder(shared, "rtmpose-t_coco-256x192")
    config = json.loads((folder / "config.json").read_text())
    model = posekit.init_model(config, folder / "checkpoint.pth", optimize=False)
    safetensors.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    again = posekit.init_model(config, tmp_path / "m.safetensors", optimize=False)
    assert all(torch.equal(again.state_dict()[k], v) for k, v in model.state_dict().items())


def test_init_model_names_missing_components(shared: Path) -> None:
    config = json.loads((_folder(shared, "hrnet-w18_coco-256x192") / "config.json").read_text())
    config["head"]["type"] = "NoSuchHead"
    config["head"]["loss"]["type"] = "JointsMSELoss"
    with pytest.raises(
        posekit.ConfigError, match=r"model\.head: head 'NoSuchHead'(.|\n)*model\.head\.loss: loss 'JointsMSELoss'"
    ):
        posekit.init_model(config)


def test_model_dict_names_mmpose_definition_files_by_their_registered_name() -> None:
    """``metainfo='configs/_base_/datasets/coco.py'`` (MMPose's own file, as RTMO's OKS losses name it) is the
    registered ``coco``; another path stays as it is, for the loader to refuse or read."""
    from posekit.interop import clean_model_dict

    loss = {"type": "OKSLoss", "metainfo": "configs/_base_/datasets/coco.py", "_scope_": "mmpose"}
    mine = {"type": "OKSLoss", "metainfo": "my/coco_variant.yaml"}
    cleaned = clean_model_dict({"head": {"loss_oks": loss, "loss_mine": mine}})["head"]
    assert cleaned == {"loss_oks": {"type": "OKSLoss", "metainfo": "coco"}, "loss_mine": mine}
