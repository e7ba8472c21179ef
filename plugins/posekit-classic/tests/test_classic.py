"""AlexNet and VGG: MMPose 1.3.2's weights load strictly and give MMPose's outputs (``fixtures/<case>``,
written by ``fixtures/generate.py`` with MMPose's own Python; 1e-4 of the largest output), MMPose's configs
naming them convert, check and build, and each trains a step and runs through ``posekit infer``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import posekit
from posekit.errors import ConfigError
from posekit.registry import build

FIXTURES = Path(__file__).parent / "fixtures"
# the generator's seeded weights (numpy and torch only; MMPose is imported only to write cases)
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "fixtures"))
from backbone_cases import seeded_state  # noqa: E402


@pytest.mark.parametrize("optimized", [False, True], ids=["eager", "fused-channels_last"])
def test_vgg_matches_mmpose(posekit_reference: Any, optimized: bool) -> None:
    posekit_reference.assert_backbone_matches_mmpose(
        FIXTURES / "vgg11-bn", optimized
    )  # strict: every backbone key, no other
    posekit_reference.assert_head_matches_mmpose(FIXTURES / "vgg11-bn", ("heatmaps",))


def test_alexnet_matches_mmpose(posekit_reference: Any) -> None:
    """AlexNet's 2.5M weights are drawn from the seed in ``weights.json`` over MMPose's keys and shapes."""
    case = FIXTURES / "alexnet"
    spec = json.loads((case / "weights.json").read_text())
    model = build("estimator", json.loads((case / "config.json").read_text()))
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == spec["shapes"], f"{case / 'weights.json'}: posekit's keys and shapes differ from MMPose's"
    model.load_state_dict(seeded_state(spec["shapes"], spec["seed"]), strict=True)
    model.eval()
    with torch.no_grad():
        feats = model.backbone(torch.from_numpy(np.load(case / "input.npy")))
        heatmaps = model.head(feats)
    posekit_reference.assert_outputs_match(feats, case / "backbone_out.npz")
    ref = np.load(case / "head_out.npz")["heatmaps"]
    posekit_reference.assert_close_to_max("heatmaps", heatmaps.numpy(), ref, str(case / "head_out.npz"))


MMPOSE_CONFIGS = pytest.mark.mmpose_configs("type='AlexNet'", "type='VGG'")


@MMPOSE_CONFIGS
def test_mmpose_config_converts_checks_and_builds(posekit_configs: Any, mmpose_config: Path, tmp_path: Path) -> None:
    configs = posekit_configs.mmpose_configs(*MMPOSE_CONFIGS.args)
    assert len(configs) == 2, f"expected MMPose's AlexNet and VGG configs, found {configs}"
    out = posekit_configs.convert_and_check(mmpose_config, tmp_path)
    with torch.device("meta"):
        model = posekit.init_model(out, device="meta")
    assert f"type='{type(model.backbone).__name__}'" in mmpose_config.read_text()


@pytest.mark.parametrize(
    ("backbone", "channels", "deconvs"),
    [
        ({"type": "AlexNet"}, 256, (16, 16, 16)),  # 64x64 input -> 1x1 -> 8x8 heatmaps
        ({"type": "VGG", "depth": 11, "num_stages": 2, "dilations": (1, 1), "out_indices": (1,)}, 128, (16,)),
    ],
    ids=["AlexNet", "VGG"],
)
def test_one_training_step_then_posekit_infer(
    posekit_check: Any, backbone: dict[str, Any], channels: int, deconvs: tuple[int, ...], tmp_path: Path
) -> None:
    size = 1 if backbone["type"] == "AlexNet" else 16
    codec = {"type": "MSRAHeatmap", "input_size": (64, 64), "heatmap_size": (size * 2 ** len(deconvs),) * 2}
    head = {"type": "HeatmapHead", "in_channels": channels, "out_channels": 17, "deconv_out_channels": deconvs}
    head |= {"deconv_kernel_sizes": (4,) * len(deconvs), "decoder": {**codec, "sigma": 2.0}}
    posekit_check.train_then_infer({"type": "TopdownPoseEstimator", "backbone": backbone, "head": head}, tmp_path)


@pytest.mark.parametrize(
    "cfg",
    [
        {
            "type": "VGG",
            "depth": 13,
            "num_stages": 3,
            "dilations": (1, 1, 2),
            "out_indices": (1, 2),
            "frozen_stages": 1,
        },
        {
            "type": "VGG",
            "depth": 11,
            "num_stages": 2,
            "dilations": (1, 1),
            "out_indices": (1,),
            "with_last_pool": False,
        },
        {
            "type": "VGG",
            "depth": 11,
            "num_stages": 1,
            "dilations": (1,),
            "out_indices": (0,),
            "norm_cfg": {"type": "BN"},
        },
    ],
    ids=["vgg13-frozen-dilated", "no-last-pool", "bn"],
)
def test_conformance(posekit_check: Any, cfg: dict[str, Any]) -> None:
    posekit_check.backbone(cfg, input_shape=(2, 3, 64, 64))


def test_vgg_frozen_stages() -> None:
    cfg = {"type": "VGG", "depth": 11, "num_stages": 2, "dilations": (1, 1), "out_indices": (1,), "frozen_stages": 1}
    model = build("backbone", cfg).train()
    assert [p.requires_grad for p in model.features[0].parameters()] == [False, False]
    assert all(p.requires_grad for p in model.features[2].parameters())


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"type": "VGG", "depth": 12}, "depth"),
        ({"type": "VGG", "depth": 11, "num_stages": 2}, r"dilations \(1, 1, 1, 1, 1\) need one entry per stage"),
        ({"type": "VGG", "depth": 11, "out_indices": (6,)}, r"out_indices \(6,\) must be at most num_stages \(5\)"),
    ],
)
def test_bad_config_is_named(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", cfg)
