"""DWPose: KDLoss / FeaLoss equal MMPose 1.3.2's (fixtures/dwpose_losses.pt, 1e-6); MMPose's DWPose
configs convert, check and build; both stages train on real images, and each stage's student is
written as a plain top-down checkpoint that `posekit infer` and `posekit export` serve alone (the ONNX file
checked against torch to 1e-4, then served by onnxruntime)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

import posekit
from posekit.errors import ConfigError
from posekit.registry import build

FIXTURES = Path(__file__).parent / "fixtures"
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-dwpose/tests/fixtures/generate_losses.py"
MMPOSE_CONFIGS = pytest.mark.mmpose_configs(under="wholebody_2d_keypoint/dwpose")
INPUT = (64, 64)
CODEC = {"type": "SimCCLabel", "input_size": INPUT, "sigma": (4.9, 5.66), "normalize": False}


@pytest.mark.parametrize("index", range(4))
def test_losses_match_mmpose(index: int) -> None:
    case = torch.load(FIXTURES / "dwpose_losses.pt", weights_only=True)[index]
    loss = build("loss", {"type": case["name"], **case["config"]})
    loss.load_state_dict(case["state"])
    got = loss(*case["args"])
    torch.testing.assert_close(
        got, case["expected"], rtol=1e-6, atol=1e-6, msg=lambda m: f"{case['name']} (regenerate: {REGENERATE}): {m}"
    )


def test_mmpose_distiller_checkpoint_matches(posekit_reference: Any) -> None:
    """MMPose's DWPoseDistiller built from MMPose configs (fixtures/teacher.py, student.py): its checkpoint
    loads strictly, and the student's outputs and the three losses at epoch 1 of 4 equal MMPose's."""
    from posekit.nn import load_model_checkpoint
    from posekit.structures import PoseBatch

    ref = torch.load(FIXTURES / "dwpose_distiller_outputs.pt", weights_only=True)
    where = f"dwpose_distiller_outputs.pt (regenerate: {REGENERATE.replace('losses', 'distiller')})"
    model = build(
        "estimator",
        {
            "type": "DWPoseDistiller",
            "teacher_cfg": str(FIXTURES / "teacher.py"),
            "student_cfg": str(FIXTURES / "student.py"),
            "distill_cfg": ref["distill_cfg"],
        },
    )
    load_model_checkpoint(model, FIXTURES / "dwpose_distiller.pth")  # strict
    model.eval()
    model.set_epoch(ref["epoch"], ref["max_epochs"])
    targets = {key: ref[key] for key in ("keypoint_x_labels", "keypoint_y_labels", "keypoint_weights")}
    with torch.no_grad():
        simcc_x, simcc_y = model(ref["input"], mode="tensor")
        losses = model.loss(ref["input"], PoseBatch(ref["input"], targets, []))
    for name, got, want in (("simcc_x", simcc_x, ref["simcc_x"]), ("simcc_y", simcc_y, ref["simcc_y"])):
        posekit_reference.assert_close_to_max(name, got.numpy(), want.numpy(), where)
    assert set(losses) == set(ref["losses"])
    for key, want in ref["losses"].items():
        torch.testing.assert_close(losses[key], want, rtol=1e-5, atol=1e-7, msg=lambda m, k=key: f"{where}: {k}: {m}")


def test_kd_loss_is_zero_for_the_teacher_itself() -> None:
    logits = (torch.randn(2, 3, 8), torch.randn(2, 3, 10))
    assert float(build("loss", {"type": "KDLoss"})(logits, logits, 10.0)) == pytest.approx(0.0, abs=1e-6)


def test_fea_loss_names_mismatched_features() -> None:
    loss = build("loss", {"type": "FeaLoss", "student_channels": 8, "teacher_channels": 16})
    with pytest.raises(ValueError, match=r"student features \(2, 16, 4, 4\) .* teacher's \(2, 16, 2, 2\)"):
        loss(torch.randn(2, 8, 4, 4), torch.randn(2, 16, 2, 2))


def test_configs_found(posekit_configs: Any) -> None:
    configs = posekit_configs.mmpose_configs(*MMPOSE_CONFIGS.args, **MMPOSE_CONFIGS.kwargs)
    assert len(configs) == 14, f"expected MMPose's 14 DWPose configs, found {len(configs)}"


@MMPOSE_CONFIGS
def test_mmpose_config_converts_checks_builds(posekit_configs: Any, mmpose_config: Path, tmp_path: Path) -> None:
    from posekit.interop import clean_model_dict

    out = posekit_configs.convert_and_check(mmpose_config, tmp_path, estimator="DWPoseDistiller")
    model_cfg = yaml.safe_load(out.read_text())["model"]
    assert Path(model_cfg["teacher_cfg"]).is_file() and Path(model_cfg["student_cfg"]).is_file()
    with torch.device("meta"):
        model = build("estimator", clean_model_dict(model_cfg, drop_pretrained=True))
    assert model.student.head.out_channels == model.teacher.head.out_channels == 133
    assert model.two_dis == ("s2_dis" in mmpose_config.parts)
    assert set(model.distill_losses) == ({"loss_logit"} if model.two_dis else {"loss_fea", "loss_logit"})


def _rtmpose(posekit_configs: Any, widen: float) -> dict[str, Any]:
    channels = int(1024 * widen)
    return {
        "type": "TopdownPoseEstimator",
        "metainfo": "coco",
        "data_preprocessor": posekit_configs.IMAGENET_PREPROCESSOR,
        "backbone": {"type": "CSPNeXt", "deepen_factor": 0.167, "widen_factor": widen, "out_indices": (4,)},
        "head": {
            "type": "RTMCCHead",
            "in_channels": channels,
            "out_channels": 17,
            "input_size": INPUT,
            "in_featuremap_size": (2, 2),
            "gau_cfg": {"hidden_dims": 16, "s": 8},
            "loss": {"type": "KLDiscretLoss", "use_target_weight": True, "beta": 10.0, "label_softmax": True},
            "decoder": CODEC,
        },
        "test_cfg": {"flip_test": True},
    }


def _distiller(teacher: Any, student: Any, two_dis: bool, **extra: Any) -> dict[str, Any]:
    kd = {"methods": [{"type": "KDLoss", "name": "loss_logit", "use_this": True, "weight": 0.1}]}
    fea = {"methods": [{"type": "FeaLoss", "name": "loss_fea", "student_channels": 32, "teacher_channels": 64}]}
    return {
        "type": "DWPoseDistiller",
        "teacher_cfg": teacher,
        "student_cfg": student,
        "two_dis": two_dis,
        "distill_cfg": [kd] if two_dis else [fea, kd],
        **extra,
    }


def test_stage1_losses_decay_and_only_the_student_learns(posekit_configs: Any, posekit_check: Any) -> None:
    cfg = _distiller(_rtmpose(posekit_configs, 0.0625), _rtmpose(posekit_configs, 0.03125), two_dis=False)
    model = posekit_check.estimator(cfg, posekit_check.random_topdown_batch(build("codec", CODEC), batch_size=2))
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(p.grad is not None for p in model.student.parameters())
    assert model.distill_losses["loss_fea"].align.weight.grad is not None
    model.train()
    assert not model.teacher.training and model.student.training
    batch = posekit_check.random_topdown_batch(build("codec", CODEC), batch_size=2)
    torch.manual_seed(0)
    x = torch.randn(2, 3, INPUT[1], INPUT[0])
    model.eval()  # fixed BN statistics: only the epoch changes between the two calls
    first = model.loss(x, batch)
    model.set_epoch(3, 4)
    later = model.loss(x, batch)
    for key in ("loss_fea", "loss_logit"):
        torch.testing.assert_close(later[key], first[key] * 0.25)
    torch.testing.assert_close(later["loss_kpt"], first["loss_kpt"])


def test_stage2_keeps_the_losses_and_refuses_feature_loss(posekit_configs: Any, posekit_check: Any) -> None:
    cfg = _distiller(_rtmpose(posekit_configs, 0.03125), _rtmpose(posekit_configs, 0.03125), two_dis=True)
    model = posekit_check.estimator(cfg, posekit_check.random_topdown_batch(build("codec", CODEC), batch_size=2))
    assert all(p.grad is None for n, p in model.student.named_parameters() if not n.startswith("head."))
    assert all(p.grad is not None for p in model.student.head.parameters())
    with pytest.raises(ConfigError, match="loss_fea needs the student's features"):
        fea = {"methods": [{"type": "FeaLoss", "student_channels": 32, "teacher_channels": 32}]}
        build("estimator", {**cfg, "distill_cfg": [fea]})


def test_keypoint_counts_must_agree(posekit_configs: Any) -> None:
    teacher = _rtmpose(posekit_configs, 0.0625)
    teacher["head"] = {**teacher["head"], "out_channels": 133}
    with pytest.raises(ConfigError, match="the teacher predicts 133 keypoints but the student 17"):
        build("estimator", _distiller(teacher, _rtmpose(posekit_configs, 0.03125), two_dis=False))


def test_missing_teacher_config_is_named(posekit_configs: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"teacher config '.*nowhere.py' not found"):
        build("estimator", _distiller(str(tmp_path / "nowhere.py"), _rtmpose(posekit_configs, 0.03125), two_dis=False))


def _experiment(model: dict[str, Any], data: Path) -> dict[str, Any]:
    pipeline = [
        {"type": "LoadImage"},
        {"type": "GetBBoxCenterScale"},
        {"type": "TopdownAffine", "input_size": INPUT},
    ]
    train = [*pipeline, {"type": "GenerateTarget", "encoder": CODEC}, {"type": "PackPoseInputs"}]
    dataset = {"type": "CocoDataset", "data_root": str(data), "ann_file": "test_coco.json", "data_prefix": {"img": ""}}
    return {
        "work_dir": "work",
        "metainfo": "coco",
        "model": model,
        "data": {
            "train": {"batch_size": 2, "num_workers": 0, "dataset": {**dataset, "pipeline": train}},
            "val": {
                "batch_size": 2,
                "num_workers": 0,
                "dataset": {**dataset, "test_mode": True, "pipeline": [*pipeline, {"type": "PackPoseInputs"}]},
            },
        },
        "optim": {"optimizer": {"type": "AdamW", "lr": 0.001}, "clip_grad": 1.0},
        "train": {"epochs": 2, "max_iters": 2, "device": "cpu", "progress": False, "val_interval": 100},
    }


def _train(experiment: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    from posekit.cli import main

    folder.mkdir()
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(experiment))
    assert main(["train", str(config), "--work-dir", str(folder / "work")]) == 0
    return folder / "work" / "student.yaml", folder / "work" / "student.pth"


def _with_batch_statistics(config: Path, checkpoint: Path) -> Path:
    """The student with its BatchNorm running statistics re-estimated on 8 seeded random crops, saved beside it.

    Two training steps leave the running statistics near their start (mean 0, var 1), far above the
    variance of the student's activations: in eval mode every BatchNorm shrinks the signal, and the trunk's
    output no longer depends on the crop (its SimCC vectors change by 1e-7 of their scale from one crop to
    another). With the flip test, a keypoint that is its own flip partner (the nose) then averages its vector
    with its own mirror image: two equal maxima at mirrored bins (x 26.5 and 37 px), which rounding differences
    between onnxruntime and torch (2e-7 of the SimCC scale) break either way (keypoints 0.21 of their scale
    apart). The graphs agree; the maxima are not distinct. With batch statistics the maxima differ by at
    least 1e-3 of the scale, and the export's own check (1e-4) runs.
    """
    model = posekit.init_model(config, checkpoint, optimize=False)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # one batch sets them
    crops = torch.rand(8, 3, INPUT[1], INPUT[0], generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        model.train().backbone(model.data_preprocessor.normalize(crops))
    out = checkpoint.with_name(f"{checkpoint.stem}_bn.pth")
    torch.save({"state_dict": model.state_dict()}, out)
    return out


def _infer(config: Path, checkpoint: Path, image: Path, out: Path) -> np.ndarray:
    from posekit.cli import main

    args = ["--checkpoint", str(checkpoint), "--input", str(image), "--out", str(out)]
    assert main(["infer", str(config), *args, "--bbox", "0", "0", "200", "200"]) == 0
    (prediction,) = (out / "predictions").glob("*.json")
    (instance,) = json.loads(prediction.read_text())["instances"]
    return np.asarray(instance["keypoints"])


def _serve(config: Path, checkpoint: Path, image: Path, out: Path, export: bool = True) -> None:
    from posekit.cli import main

    assert _infer(config, checkpoint, image, out / "infer").shape == (17, 2)
    if not export:
        return
    student = _with_batch_statistics(config, checkpoint)
    onnx = out / "student.onnx"
    assert main(["export", str(config), "--checkpoint", str(student), "-o", str(onnx)]) == 0  # checked to 1e-4
    served = _infer(config, onnx, image, out / "infer-onnx")  # onnxruntime, the student alone
    np.testing.assert_allclose(served, _infer(config, student, image, out / "infer-bn"), atol=1e-3)


def test_two_stages_train_and_the_student_serves_alone(posekit_configs: Any, shared: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(shared / "data" / "coco", data)
    image = next(data.glob("*.jpg"))
    teacher_cfg = tmp_path / "teacher.json"
    teacher_cfg.write_text(json.dumps(_rtmpose(posekit_configs, 0.0625)))
    teacher_ckpt = tmp_path / "teacher.pth"
    torch.save({"state_dict": build("estimator", _rtmpose(posekit_configs, 0.0625)).state_dict()}, teacher_ckpt)

    stage1 = _distiller(
        str(teacher_cfg), _rtmpose(posekit_configs, 0.03125), two_dis=False, teacher_pretrained=str(teacher_ckpt)
    )
    s1_yaml, s1_pth = _train(_experiment(stage1, data), tmp_path / "s1")
    s1 = yaml.safe_load(s1_yaml.read_text())
    assert s1["model"]["type"] == "TopdownPoseEstimator" and s1["model"]["backbone"]["widen_factor"] == 0.03125
    student = posekit.init_model(s1_yaml, s1_pth)  # strict: a plain top-down checkpoint, no teacher keys
    assert not any(k.startswith(("teacher.", "student.", "distill")) for k in student.state_dict())
    _serve(s1_yaml, s1_pth, image, tmp_path / "s1")

    stage2 = _distiller(str(s1_yaml), str(s1_yaml), two_dis=True, teacher_pretrained=str(s1_pth))
    s2_yaml, s2_pth = _train(_experiment(stage2, data), tmp_path / "s2")
    before = torch.load(s1_pth, weights_only=True)["state_dict"]
    after = torch.load(s2_pth, weights_only=True)["state_dict"]
    assert set(before) == set(after)
    for key in before:  # stage 2 trains the head only, on the stage-1 student's (teacher's) trunk
        assert torch.equal(before[key], after[key]) != key.startswith("head."), key
    _serve(s2_yaml, s2_pth, image, tmp_path / "s2")

    # the distiller itself serves as its student does (stage 2: the student's head on the teacher's trunk)
    s2_config, s2_last = tmp_path / "s2" / "config.yaml", tmp_path / "s2" / "work" / "iter_2.pth"
    distiller, alone = posekit.init_model(s2_config, s2_last), posekit.init_model(s2_yaml, s2_pth)
    x = torch.randn(1, 3, INPUT[1], INPUT[0])
    with torch.no_grad():
        torch.testing.assert_close(distiller(x, mode="tensor"), alone(x, mode="tensor"))
    _serve(s2_config, s2_last, image, tmp_path / "s2" / "distiller", export=False)


def test_stage2_predicts_with_the_teachers_trunk(posekit_configs: Any) -> None:
    cfg = _distiller(_rtmpose(posekit_configs, 0.03125), _rtmpose(posekit_configs, 0.03125), two_dis=True)
    model = build("estimator", cfg).eval()
    plain = build("estimator", copy.deepcopy(_rtmpose(posekit_configs, 0.03125))).eval()
    plain.load_state_dict(model.student_state_dict())
    x = torch.randn(1, 3, INPUT[1], INPUT[0])
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode="tensor"), plain(x, mode="tensor"))
        assert not torch.equal(model.student.backbone(x)[0], model.teacher.backbone(x)[0])
