"""MotionBERT (DSTFormer, MotionRegressionHead, MotionBERTLabel) and semi-supervised VideoPose3D.

Reference cases: ``fixtures/generate_motionbert_semi.py`` run with MMPose 1.3.2 (tiny models of the
configs ``motionbert_dstformer-243frm_8xb32-240e_h36m`` and ``video-pose-lift_tcn-27frm-semi-supv_8xb64-200e_h36m``,
random weights, saved as MMPose checkpoints). Models match within 1e-4 relative, codecs within 1e-5.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import posekit
from posekit.cli import main
from posekit.inference import Inferencer, PoseInstance
from posekit.registry import build
from posekit.structures import PoseBatch, PoseSample

FIXTURES = Path(__file__).parent / "fixtures"
GENERATOR = "plugins/posekit-lifting/tests/fixtures/generate_motionbert_semi.py"


def _numpy(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _numpy(v) for k, v in obj.items()}
    return obj


def _close(name: str, got: Any, ref: Any, rtol: float) -> None:
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{name}: shape {got.shape}, MMPose {ref.shape}"
    err = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-12)
    assert err <= rtol, f"{name}: differs from MMPose by {err:.2e} of the scale (> {rtol}); regenerate: {GENERATOR}"


def _load(name: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    ref = torch.load(FIXTURES / f"{name}_outputs.pt", weights_only=True)
    model = posekit.init_model(ref["model"], FIXTURES / f"{name}.pth")  # strict: MMPose's keys
    return model.eval(), ref


def test_motionbert_matches_mmpose() -> None:
    model, ref = _load("motionbert")
    x = ref["input"]
    with torch.no_grad():
        _close("MotionBERT _forward", model(x, mode="tensor"), ref["coords"], 1e-4)
        samples = [
            PoseSample(
                flip_indices=list(ref["flip_indices"]),
                camera_param={"w": float(ref["w"][i]), "h": float(ref["h"][i])},
            )
            for i in range(len(x))
        ]
        results = model(x, PoseBatch(inputs=x, targets={"factor": ref["factor"]}, samples=samples), mode="predict")
    got = np.stack([r.keypoints[None] for r in results])  # MMPose's (1, F, K, 3) per sample
    _close("MotionBERT predict (flip test, image sizes, factors)", got, ref["predict_keypoints"], 1e-4)


@pytest.mark.parametrize("case", range(3))
def test_motionbert_label_matches_mmpose(case: int) -> None:
    ref = _numpy(torch.load(FIXTURES / "motionbert_outputs.pt", weights_only=True)["codec"][case])
    codec = build("codec", ref["config"])
    encoded = codec.encode(**ref["encode"])
    assert set(encoded) == set(ref["encoded"])
    for key, value in ref["encoded"].items():
        np.testing.assert_allclose(encoded[key], value, rtol=1e-5, atol=1e-6, err_msg=f"encode {key} ({GENERATOR})")
    keypoints, scores = codec.decode(**ref["decode"])
    np.testing.assert_allclose(keypoints, ref["decoded"][0], rtol=1e-5, atol=1e-6, err_msg=f"decode ({GENERATOR})")
    np.testing.assert_array_equal(scores, ref["decoded"][1])


def test_semi_supervised_videopose_matches_mmpose() -> None:
    model, ref = _load("videopose_semi")
    assert {k.split(".")[0] for k in model.state_dict()} == {"backbone", "head", "traj_backbone", "traj_head"}
    with torch.no_grad():
        pose, traj = model(ref["input"], mode="tensor")
    _close("semi-supervised VideoPose3D pose", pose, ref["pose"], 1e-4)
    _close("semi-supervised VideoPose3D trajectory", traj, ref["traj"], 1e-4)


def _h36m(root: Path, pipeline: list[dict[str, Any]], test_mode: bool = False, **kw: Any) -> dict[str, Any]:
    """posekit's synthetic Human3.6M-format motion (``posekit data synth --format h36m``) under ``root``."""
    return {
        "type": "Human36mDataset",
        "data_root": str(root / "annotation_body3d"),
        "ann_file": f"fps50/h36m_{'test' if test_mode else 'train'}.npz",
        "camera_param_file": "cameras.pkl",
        "pipeline": pipeline,
        "test_mode": test_mode,
        **kw,
    }


def motionbert(root: Path) -> dict[str, Any]:
    train_codec = {"type": "MotionBERTLabel", "num_keypoints": 17, "concat_vis": True, "mode": "train"}
    val_codec = {"type": "MotionBERTLabel", "num_keypoints": 17, "concat_vis": True, "rootrel": True}
    flip = {
        "type": "RandomFlipAroundRoot",
        "keypoints_flip_cfg": {"center_mode": "static", "center_x": 0.0},
        "target_flip_cfg": {"center_mode": "static", "center_x": 0.0},
        "flip_label": True,
    }
    windows = {"seq_len": 1, "multiple_target": 4}
    return {
        "model": {
            "type": "PoseLifter",
            "backbone": {
                "type": "DSTFormer",
                "in_channels": 3,
                "feat_size": 16,
                "depth": 1,
                "num_heads": 2,
                "mlp_ratio": 2,
                "seq_len": 4,
            },
            "head": {
                "type": "MotionRegressionHead",
                "in_channels": 16,
                "embedding_size": 16,
                "loss": {"type": "MPJPEVelocityJointLoss"},
                "decoder": val_codec,
            },
            "test_cfg": {"flip_test": True},
        },
        "data": {
            "train": {
                "dataset": _h36m(
                    root,
                    [{"type": "GenerateTarget", "encoder": train_codec}, flip, {"type": "PackPoseInputs"}],
                    **windows,
                ),
                "batch_size": 2,
            },
            "val": {
                "dataset": _h36m(
                    root,
                    [{"type": "GenerateTarget", "encoder": val_codec}, {"type": "PackPoseInputs"}],
                    test_mode=True,
                    **windows,
                ),
                "batch_size": 2,
            },
        },
    }


def videopose_semi(root: Path) -> dict[str, Any]:
    codec = {"type": "VideoPoseLifting", "num_keypoints": 17, "zero_center": True, "root_index": 0}
    tcn = {
        "type": "TCN",
        "in_channels": 34,
        "stem_channels": 16,
        "kernel_sizes": (3, 3),
        "num_blocks": 1,
        "use_stride_conv": True,
    }
    pipeline = [{"type": "GenerateTarget", "encoder": codec}, {"type": "PackPoseInputs"}]
    windows = {"seq_len": 9, "causal": False, "pad_video_seq": True}
    parents = [0, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
    return {
        "model": {
            "type": "PoseLifter",
            "backbone": tcn,
            "head": {"type": "TemporalRegressionHead", "in_channels": 16, "num_joints": 17, "decoder": codec},
            "traj_backbone": tcn,
            "traj_head": {"type": "TrajectoryRegressionHead", "in_channels": 16, "num_joints": 1, "decoder": codec},
            "semi_loss": {"type": "SemiSupervisionLoss", "joint_parents": parents},
        },
        "data": {
            "train": {"dataset": _h36m(root, pipeline, **windows), "batch_size": 2},
            "val": {"dataset": _h36m(root, pipeline, test_mode=True, **windows), "batch_size": 8},
        },
    }


@pytest.mark.parametrize("family", [motionbert, videopose_semi], ids=lambda f: f.__name__)
def test_trains_a_few_iterations(family: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "synth", "--format", "h36m", "--frames", "4", "--out", str(tmp_path / "h36m")]) == 0
    cfg = family(tmp_path / "h36m")
    cfg["metainfo"] = "h36m"
    for split in cfg["data"].values():
        split["num_workers"] = 0
    cfg.update(
        work_dir=str(tmp_path / "run"),
        evaluator=[{"type": "MPJPE", "mode": "mpjpe"}],
        optim={"optimizer": {"type": "Adam", "lr": 1e-3}},
        train={"epochs": 1, "progress": False, "max_iters": 4},
    )
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    assert main(["train", str(path)]) == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "run" / "scalars.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["mode"] == "train"]
    assert train and all(np.isfinite(r["loss"]) for r in train)
    if family is videopose_semi:
        assert {"loss_traj", "semi_proj_loss", "semi_bone_loss"} <= set(train[0])
    capsys.readouterr()
    assert main(["test", str(path), "--checkpoint", str(tmp_path / "run" / "iter_4.pth")]) == 0
    assert "MPJPE" in capsys.readouterr().out


def test_motionbert_serves_a_2d_sequence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], coco_track: Callable[[int], Path]
) -> None:
    """A 10-frame COCO track through ``posekit infer``: clips of the backbone's 8 frames, one 3D pose per frame."""
    cfg = torch.load(FIXTURES / "motionbert_outputs.pt", weights_only=True)["model"]
    config = tmp_path / "motionbert.json"
    config.write_text(json.dumps({**cfg, "metainfo": "h36m"}))
    source = coco_track(10)
    out = tmp_path / "lifted"
    args = ["infer", str(config), "--checkpoint", str(FIXTURES / "motionbert.pth"), "--input", str(source)]
    assert main([*args, "--out", str(out), "--no-draw"]) == 0, capsys.readouterr().err
    record = json.loads(next(out.rglob("*.json")).read_text())
    assert [len(f["instances"]) for f in record["frames"]] == [1] * 10
    got = np.stack([f["instances"][0]["keypoints"] for f in record["frames"]])
    assert got.shape == (10, 17, 3) and np.isfinite(got).all()
    # the first clip (frames 0-7) is the lifter's own prediction of those frames
    inferencer = Inferencer({**cfg, "metainfo": "h36m"}, FIXTURES / "motionbert.pth")
    people = [
        [
            PoseInstance(
                keypoints=np.asarray(f["instances"][0]["keypoints"], np.float32),
                keypoint_scores=np.full(17, 0.9, np.float32),
                bbox=np.zeros(4, np.float32),
                track_id=0,
            )
        ]
        for f in json.loads(source.read_text())["frames"][:8]
    ]
    lifted = inferencer.lift(people, (640, 480), {"dataset_name": "coco"})
    expected = np.stack([p[0].keypoints for p in lifted])
    np.testing.assert_allclose(got[:8], expected, rtol=0, atol=5.1e-5)  # the JSON keeps 4 decimals
