"""CPM, HourglassNet, MSPN, RSN with CPMHead / MSPNHead against MMPose 1.3.2: its checkpoints load strictly
and give its features, per-stage heatmaps, flip-test keypoints and training loss (multilevel targets and
OHKM for MSPN/RSN) on seeded inputs (fixtures/*, written by ``fixtures/generate.py`` with MMPose's own
Python, 1e-4 relative); per family (and for ViPNASHead, DSNTHead, VisPredictHead) one training step then
`posekit infer`. That MMPose's configs naming them convert, check and build is posekit-mmpose's
``test_all_configs``."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

import posekit
from posekit.cli import main
from posekit.errors import ConfigError
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample, TrainCfg
from posekit.structures import TestCfg as HeadTestCfg

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ("cpm", "hourglass", "mspn", "rsn")
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-multistage/tests/fixtures/generate.py"
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _close(actual: Any, expected: Any, where: str, atol: float = 1e-5) -> None:
    torch.testing.assert_close(
        torch.as_tensor(actual),
        torch.as_tensor(expected),
        rtol=1e-4,
        atol=atol,
        msg=lambda m: f"{where} (regenerate: {REGENERATE}): {m}",
    )


def _samples(keypoints: torch.Tensor, visible: torch.Tensor, input_size: tuple[int, int]) -> list[PoseSample]:
    w, h = input_size
    return [
        PoseSample(
            img_id=i,
            id=i,
            keypoints=k.numpy(),
            keypoints_visible=v.numpy(),
            input_size=(w, h),
            input_center=np.array([w / 2, h / 2], np.float32),
            input_scale=np.array([w, h], np.float32),
            flip_indices=COCO_FLIP,
        )
        for i, (k, v) in enumerate(zip(keypoints, visible, strict=True))
    ]


def _batch(samples: list[PoseSample], codecs: list[dict[str, Any]], inputs: torch.Tensor) -> PoseBatch:
    """Targets of ``codecs`` (multilevel when several) encoded by posekit's GenerateTarget, collated."""
    from posekit.data import pose_collate

    encoder = tuple(codecs) if len(codecs) > 1 else codecs[0]
    generate = build("transform", {"type": "GenerateTarget", "encoder": encoder, "multilevel": len(codecs) > 1})
    for s, x in zip(samples, inputs, strict=True):
        generate(s)
        s.inputs = x
    return pose_collate(samples)


@pytest.mark.parametrize("name", NAMES)
def test_mmpose_checkpoint_matches(name: str, tmp_path: Path) -> None:
    ref = torch.load(FIXTURES / f"{name}_outputs.pt", weights_only=True)
    checkpoint = tmp_path / f"{name}.pth"
    checkpoint.write_bytes(gzip.decompress((FIXTURES / f"{name}.pth.gz").read_bytes()))
    model = posekit.init_model(copy.deepcopy(ref["model"]), checkpoint)  # strict: every key must match
    with torch.no_grad():
        feats = model.backbone(ref["input"])
        feats_flip = model.backbone(ref["input"].flip(-1))
        heatmaps = model.head(feats)
    assert len(feats) == len(ref["feats"]) and len(heatmaps) == len(ref["heatmaps"])
    for i, (f, e) in enumerate(zip(feats, ref["feats"], strict=True)):
        _close(f, e, f"{name}.pth.gz backbone output {i}")
    for i, (f, e) in enumerate(zip(heatmaps, ref["heatmaps"], strict=True)):
        _close(f, e, f"{name}.pth.gz heatmaps of stage/unit {i}")

    input_size = tuple(ref["codecs"][0]["input_size"])
    batch = _batch(_samples(ref["keypoints"], ref["keypoints_visible"], input_size), ref["codecs"], ref["input"])
    test_cfg = HeadTestCfg(**ref["model"]["test_cfg"])
    with torch.no_grad():
        preds = model.head.predict((feats, feats_flip), batch, test_cfg)
        losses = model.head.loss(feats, batch, TrainCfg())
    _close(np.stack([p.keypoints for p in preds]), ref["pred_keypoints"], f"{name} flip-test keypoints", atol=1e-4)
    _close(np.stack([p.keypoint_scores for p in preds]), ref["pred_scores"], f"{name} flip-test scores")
    _close(losses["loss_kpt"], ref["loss_kpt"], f"{name} loss_kpt", atol=1e-7)
    _close(losses["acc_pose"], ref["acc_pose"].float(), f"{name} acc_pose")


def _tiny(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A tiny model of each family at 32x32 and the codecs of its targets."""
    msra = {"type": "MSRAHeatmap", "input_size": (32, 32), "heatmap_size": (8, 8), "sigma": 1.0}
    msra8 = {**msra, "heatmap_size": (4, 4)}  # CPM's maps are at stride 8
    megvii = [
        {"type": "MegviiHeatmap", "input_size": (32, 32), "heatmap_size": (8, 8), "kernel_size": k} for k in (5, 3)
    ]
    unit = {"unit_channels": 8, "num_stages": 2, "num_units": 2, "num_blocks": (1, 1)}
    mspn_head = {"type": "MSPNHead", **{k: unit[k] for k in ("unit_channels", "num_stages", "num_units")}}
    mspn_head.update({"out_shape": (8, 8), "level_indices": (0, 1, 0, 1), "decoder": megvii[-1]})
    mspn_head["loss"] = ({"type": "KeypointMSELoss", "use_target_weight": True}, {"type": "KeypointOHKMMSELoss"}) * 2
    models = {
        "cpm": (
            {
                "type": "CPM",
                "in_channels": 3,
                "out_channels": 17,
                "feat_channels": 8,
                "middle_channels": 4,
                "num_stages": 2,
            },
            {
                "type": "CPMHead",
                "in_channels": 17,
                "out_channels": 17,
                "num_stages": 2,
                "final_layer": None,
                "decoder": msra8,
            },
            [msra8],
        ),
        "hourglass": (
            {
                "type": "HourglassNet",
                "downsample_times": 1,
                "num_stacks": 2,
                "stage_channels": (256, 8),
                "stage_blocks": (1, 1),
                "feat_channel": 8,
            },
            {"type": "CPMHead", "in_channels": 8, "out_channels": 17, "num_stages": 2, "decoder": msra},
            [msra],
        ),
        "mspn": ({"type": "MSPN", **unit}, mspn_head, megvii),
        # (no PRM here: an untrained PRM can output an all-zero map, which Megvii decoding turns into a NaN score
        # as MMPose's does; the rsn fixture checks the PRM against MMPose)
        "rsn": ({"type": "RSN", **unit, "num_steps": 2, "expand_times": 4}, mspn_head, megvii),
    }
    # the heads of issue 20 that come without a backbone of their own, on the hourglass's last stack ((B, 8, 8, 8))
    hourglass = models["hourglass"][0]
    integral = {"type": "IntegralRegressionLabel", "input_size": (32, 32), "heatmap_size": (8, 8), "sigma": 1.0}
    msra16 = {**msra, "heatmap_size": (16, 16)}
    pose_cfg = {"type": "HeatmapHead", "in_channels": 8, "out_channels": 17, "deconv_out_channels": None}
    bce = {"type": "BCELoss", "use_target_weight": True, "use_sigmoid": True}
    models.update(
        {
            "ViPNASHead": (
                hourglass,
                {
                    "type": "ViPNASHead",
                    "in_channels": 8,
                    "out_channels": 17,
                    "deconv_out_channels": (8,),
                    "deconv_kernel_sizes": (4,),
                    "deconv_num_groups": (4,),
                    "decoder": msra16,
                },
                [msra16],
            ),
            "DSNTHead": (
                hourglass,
                {
                    "type": "DSNTHead",
                    "in_channels": 8,
                    "in_featuremap_size": (8, 8),
                    "num_joints": 17,
                    "deconv_out_channels": None,
                    "decoder": {**integral, "normalize": True},
                },
                [{**integral, "normalize": True}],
            ),
            "VisPredictHead": (
                hourglass,
                {"type": "VisPredictHead", "pose_cfg": {**pose_cfg, "decoder": msra}, "loss": bce},
                [msra],
            ),
        }
    )
    backbone, head, codecs = models[name]
    return {"type": "TopdownPoseEstimator", "backbone": backbone, "head": head}, codecs


@pytest.mark.parametrize("name", (*NAMES, "ViPNASHead", "DSNTHead", "VisPredictHead"))
def test_one_training_step_then_posekit_infer(posekit_check: Any, name: str, tmp_path: Path) -> None:
    """A tiny model of the family (or head) trains one step on targets of its codecs (multilevel for
    MSPN/RSN), is saved, and runs through `posekit infer`."""
    cfg, codecs = _tiny(name)
    rng = np.random.default_rng(0)
    keypoints = torch.from_numpy(rng.uniform(2, 30, (2, 1, 17, 2)).astype(np.float32))
    inputs = torch.from_numpy(rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8))
    batch = _batch(_samples(keypoints, torch.ones(2, 1, 17), (32, 32)), codecs, inputs)
    model = posekit_check.estimator(cfg, batch)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)

    torch.save({"state_dict": model.state_dict()}, tmp_path / "tiny.pth")
    (tmp_path / "tiny.json").write_text(json.dumps(cfg))
    cv2.imwrite(str(tmp_path / "person.png"), rng.integers(0, 256, (120, 100, 3), np.uint8))
    args = ["infer", str(tmp_path / "tiny.json"), "--checkpoint", str(tmp_path / "tiny.pth")]
    args += ["--input", str(tmp_path / "person.png"), "--out", str(tmp_path / "out"), "--bbox", "10", "10", "70", "90"]
    assert main(args) == 0
    prediction = json.loads((tmp_path / "out" / "predictions" / "person.json").read_text())
    (instance,) = prediction["instances"]
    assert np.array(instance["keypoints"]).shape == (17, 2) and np.isfinite(instance["keypoints"]).all()


@pytest.mark.parametrize(
    ("kind", "cfg", "message"),
    [
        ("backbone", {"type": "CPM", "in_channels": 1, "out_channels": 17}, "in_channels must be 3"),
        (
            "backbone",
            {"type": "HourglassNet", "stage_channels": (128, 8), "stage_blocks": (1, 1), "downsample_times": 1},
            r"stage_channels\[0\] must be 256",
        ),
        ("backbone", {"type": "MSPN", "num_units": 3}, r"num_units \(3\) must be at least 2 and equal len"),
        ("backbone", {"type": "RSN", "num_steps": 1}, "num_steps must be at least 2"),
        ("head", {"type": "MSPNHead", "level_indices": (0, 1)}, "level_indices has 2 entries, expected"),
        (
            "head",
            {
                "type": "CPMHead",
                "in_channels": 4,
                "out_channels": 17,
                "num_stages": 2,
                "loss": ({"type": "KeypointMSELoss"},),
            },
            "loss lists 1 configs, expected one per stage",
        ),
    ],
)
def test_bad_config_is_named(kind: str, cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(kind, cfg)


def test_mspn_head_refuses_missing_levels() -> None:
    head = build("head", {**_tiny("mspn")[0]["head"], "level_indices": (0, 1, 0, 2)})
    feats = (torch.randn(1, 8, 2, 2), torch.randn(1, 8, 4, 4)) * 2
    targets = {"heatmaps": torch.zeros(1, 2, 17, 8, 8), "keypoint_weights": torch.ones(1, 2, 1, 17)}
    batch = PoseBatch(inputs=torch.zeros(1, 3, 32, 32), targets=targets, samples=[])
    with pytest.raises(ValueError, match=r"level_indices reach level 2, but the targets have 2 levels"):
        head.loss(feats, batch, TrainCfg())


def test_mspn_init_cfg_copies_an_imagenet_resnet(tmp_path: Path) -> None:
    """``init_cfg`` of an ImageNet ResNet fills the top and every stage's down-sampling units (MMPose's mapping)."""
    cfg = {"type": "MSPN", "unit_channels": 8, "num_stages": 2, "num_units": 2, "num_blocks": (1, 1)}
    source = build("backbone", cfg)
    resnet = {"conv1.weight": source.top.top[0].conv.weight, "fc.weight": torch.zeros(2, 2)}
    resnet.update({f"bn1.{k}": v for k, v in source.top.top[0].bn.state_dict().items()})
    for key, value in source.multi_stage_mspn[0].downsample.state_dict().items():
        resnet[key.replace("downsample.conv", "downsample.0").replace("downsample.bn", "downsample.1")] = value
    torch.save({"state_dict": resnet}, tmp_path / "resnet.pth")
    pretrained = {"type": "Pretrained", "checkpoint": str(tmp_path / "resnet.pth")}
    loaded = build("backbone", {**cfg, "init_cfg": pretrained})  # the classifier (fc) is left out
    for stage in loaded.multi_stage_mspn:
        for key, value in source.multi_stage_mspn[0].downsample.state_dict().items():
            assert torch.equal(stage.downsample.state_dict()[key], value), key
    assert torch.equal(loaded.top.top[0].conv.weight, source.top.top[0].conv.weight)
