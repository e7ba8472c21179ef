"""PyramidVisionTransformer / V2 (MMPose's own): every MMPose config naming them converts, checks and builds;
one training step each; the original PVT repository's keys convert (the fixture match is in test_vit.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import posekit
from posekit.errors import ConfigError
from posekit.registry import build

TINY = {"embed_dims": 8, "num_layers": (1, 1, 1, 1), "num_heads": (1, 1, 2, 2), "mlp_ratios": (2, 2, 2, 2),
        "sr_ratios": (2, 2, 1, 1), "out_indices": (3,)}  # fmt: skip
MMPOSE_CONFIGS = pytest.mark.mmpose_configs("type='PyramidVisionTransformer'", "type='PyramidVisionTransformerV2'")


def test_configs_found(posekit_configs: Any) -> None:
    configs = posekit_configs.mmpose_configs(*MMPOSE_CONFIGS.args, **MMPOSE_CONFIGS.kwargs)
    assert len(configs) == 2, f"expected MMPose's 2 PVT configs, found {len(configs)}"


@MMPOSE_CONFIGS
def test_mmpose_config_converts_checks_builds(posekit_configs: Any, mmpose_config: Path, tmp_path: Path) -> None:
    model_cfg = posekit.load_config(posekit_configs.convert_and_check(mmpose_config, tmp_path)).model
    model_cfg["backbone"].pop("init_cfg")  # the PVT repository's ImageNet weights: not downloaded here
    with torch.device("meta"):
        model = build("estimator", model_cfg)
    embed_dims = model.backbone.layers[-1][0].projection.out_channels
    assert model.head.in_channels == embed_dims == 512
    assert [len(blocks) for _, blocks, _ in model.backbone.layers][-1] == 3 + ("V2" not in mmpose_config.read_text())


@pytest.mark.parametrize("name", ["PyramidVisionTransformer", "PyramidVisionTransformerV2"])
def test_one_training_step(posekit_check: Any, name: str) -> None:
    codec = {"type": "MSRAHeatmap", "input_size": (64, 64), "heatmap_size": (16, 16), "sigma": 2.0}
    cfg = {
        "type": "TopdownPoseEstimator",
        "backbone": {"type": name, **TINY, "drop_path_rate": 0.1, "pretrain_img_size": 64},
        "head": {"type": "HeatmapHead", "in_channels": 16, "out_channels": 17, "deconv_out_channels": (16, 16, 16),
                 "deconv_kernel_sizes": (4, 4, 4), "decoder": codec},
    }  # fmt: skip
    model = posekit_check.estimator(cfg, posekit_check.random_topdown_batch(build("codec", codec), batch_size=2))
    grads = {n: p.grad for n, p in model.backbone.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), sorted(grads)
    assert float(grads["layers.0.1.0.pos_embed" if name.endswith("Transformer") else "layers.0.2.weight"].abs().sum())


def test_pvt_repository_keys_convert() -> None:
    from posekit_vit.pvt import pvt_convert

    original = {
        "patch_embed1.proj.weight": torch.zeros(8, 3, 7, 7),
        "pos_embed4": torch.zeros(1, 50, 16),
        "block1.0.attn.q.weight": torch.ones(8, 8),
        "block1.0.attn.kv.weight": torch.full((16, 8), 2.0),
        "block1.0.attn.proj.bias": torch.zeros(8),
        "block1.0.mlp.fc1.weight": torch.zeros(16, 8),
        "block1.0.mlp.dwconv.dwconv.weight": torch.zeros(16, 1, 3, 3),
        "block1.0.mlp.fc2.weight": torch.zeros(8, 16),
        "norm1.weight": torch.zeros(8),
        "head.weight": torch.zeros(10, 16),
    }
    converted = pvt_convert(original)
    assert set(converted) == {
        "layers.0.0.projection.weight", "layers.3.1.0.pos_embed", "layers.0.1.1.attn.attn.in_proj_weight",
        "layers.0.1.1.attn.attn.out_proj.bias", "layers.0.1.1.ffn.layers.0.weight", "layers.0.1.1.ffn.layers.1.weight",
        "layers.0.1.1.ffn.layers.4.weight", "layers.0.2.weight",
    }  # fmt: skip
    assert converted["layers.3.1.0.pos_embed"].shape == (1, 49, 16)  # the class token's position dropped
    assert converted["layers.0.1.1.attn.attn.in_proj_weight"].shape == (24, 8)
    assert converted["layers.0.1.1.ffn.layers.4.weight"].shape == (8, 16, 1, 1)


def test_bad_config_is_named() -> None:
    with pytest.raises(ConfigError, match=r"'sr_ratios': \(2, 1\)\} need one entry per stage \(num_stages=4\)"):
        build("backbone", {"type": "PyramidVisionTransformer", **TINY, "sr_ratios": (2, 1)})
    with pytest.raises(ConfigError, match=r"out_indices \(4,\) must be stage indices in \[0, 4\)"):
        build("backbone", {"type": "PyramidVisionTransformerV2", **TINY, "out_indices": (4,)})
