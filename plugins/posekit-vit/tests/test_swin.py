"""SwinTransformer (MMPose's own): every MMPose config naming it converts, checks and builds; one training step;
freezing; the original Swin repository's keys convert (its fixture match lives in test_vit.py's parametrization)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import posekit
from posekit.errors import ConfigError
from posekit.registry import build

TINY = {"type": "SwinTransformer", "embed_dims": 8, "depths": (2, 2), "num_heads": (1, 2), "strides": (4, 2)}

MMPOSE_CONFIGS = pytest.mark.mmpose_configs("type='SwinTransformer'")


def test_configs_found(posekit_configs: Any) -> None:
    configs = posekit_configs.mmpose_configs(*MMPOSE_CONFIGS.args, **MMPOSE_CONFIGS.kwargs)
    assert len(configs) == 5, f"expected MMPose's 5 Swin configs, found {len(configs)}"


@MMPOSE_CONFIGS
def test_mmpose_config_converts_checks_builds(
    posekit_configs: Any, mmpose_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --partial: Swin-L's per-key weight decay (paramwise_cfg.custom_keys) has no posekit equivalent yet
    out = posekit_configs.convert_and_check(mmpose_config, tmp_path, "--partial")
    dropped = {line.split(":")[0].strip() for line in capsys.readouterr().err.splitlines() if line.startswith("  [")}
    assert dropped <= {"[optim] optim_wrapper.paramwise_cfg.custom_keys"}, dropped
    model_cfg = posekit.load_config(out).model
    model_cfg["backbone"].pop("init_cfg")  # the Swin repository's ImageNet weights: not downloaded here
    with torch.device("meta"):
        model = build("estimator", model_cfg)
    backbone = model.backbone
    assert len(backbone.stages) == 4 and model.head.in_channels == backbone.num_features[-1]
    assert [len(s.blocks) for s in backbone.stages] == list(model_cfg["backbone"]["depths"])


def test_one_training_step(posekit_check: Any) -> None:
    codec = {"type": "MSRAHeatmap", "input_size": (48, 64), "heatmap_size": (12, 16), "sigma": 2.0}
    cfg = {
        "type": "TopdownPoseEstimator",
        "backbone": {**TINY, "out_indices": (1,), "window_size": 7, "drop_path_rate": 0.2, "use_abs_pos_embed": True,
                     "pretrain_img_size": (64, 48)},
        "head": {"type": "HeatmapHead", "in_channels": 16, "out_channels": 17, "deconv_out_channels": (16,),
                 "deconv_kernel_sizes": (4,), "decoder": codec},
    }  # fmt: skip
    model = posekit_check.estimator(cfg, posekit_check.random_topdown_batch(build("codec", codec), batch_size=2))
    grads = {n: p.grad for n, p in model.backbone.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), sorted(grads)
    assert float(grads["stages.0.blocks.1.attn.w_msa.relative_position_bias_table"].abs().sum()) > 0


def test_frozen_stages() -> None:
    model = build("backbone", {**TINY, "out_indices": (0, 1), "frozen_stages": 1}).train()
    frozen = ("patch_embed.", "stages.0.", "norm0.")
    for name, p in model.named_parameters():
        assert p.requires_grad != name.startswith(frozen), name
    assert not model.stages[0].training and model.stages[1].training


def test_swin_repository_keys_convert(tmp_path: Path) -> None:
    """``convert_weights=True``: a checkpoint in the Swin repository's layout loads through init_cfg."""
    from posekit_vit.swin import swin_converter

    source = build("backbone", {**TINY, "out_indices": (1,)})
    original: dict[str, torch.Tensor] = {}
    for key, value in source.state_dict().items():  # back to the repository's names and merge order
        if key.startswith("norm") or key.endswith("relative_position_index"):
            continue
        key = key.replace("stages", "layers", 1).replace("attn.w_msa.", "attn.").replace("projection", "proj")
        key = key.replace("ffn.layers.0.0.", "mlp.fc1.").replace("ffn.layers.1.", "mlp.fc2.")
        if "downsample.reduction" in key:
            out, inp = value.shape
            value = value.reshape(out, inp // 4, 4).transpose(1, 2)[:, [0, 2, 1, 3], :].reshape(out, inp)
        elif "downsample.norm" in key:
            value = value.reshape(-1, 4).transpose(0, 1)[[0, 2, 1, 3], :].reshape(-1)
        original[key] = value
    original["head.weight"] = torch.zeros(10, 16)
    assert swin_converter(original).keys() <= source.state_dict().keys()
    torch.save(original, tmp_path / "swin_repo.pth")
    init = {"type": "Pretrained", "checkpoint": str(tmp_path / "swin_repo.pth")}
    with pytest.warns(UserWarning, match="non-strictly"):  # the output norms are not in the repository's file
        loaded = build("backbone", {**TINY, "out_indices": (1,), "convert_weights": True, "init_cfg": init})
    for key, value in source.state_dict().items():
        if not key.startswith("norm"):
            torch.testing.assert_close(loaded.state_dict()[key], value, msg=key)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"num_heads": (1,)}, "need one entry per stage"),
        ({"patch_size": 2}, r"strides\[0\] 4 must equal patch_size 2"),
        ({"out_indices": (2,)}, r"out_indices \(2,\) must be stage indices in \[0, 2\)"),
        ({"frozen_stages": 3, "out_indices": (1,)}, r"frozen_stages must be in \[-1, 2\]"),
    ],
)
def test_bad_config_is_named(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", {**TINY, **cfg})
