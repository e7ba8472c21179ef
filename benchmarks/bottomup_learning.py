"""Do CID and DEKR learn? A short training run on posekit's synthetic multi-person images, COCO AP after
each validation (a learning curve, not a test).

    python benchmarks/bottomup_learning.py --family cid --epochs 6
    python benchmarks/bottomup_learning.py --family dekr --epochs 6 --num-train 400 --size 128

Writes the data (``posekit data synth``) and the run under ``--work`` (default a temporary folder) and
prints ``epoch  AP  AR`` after each validation. The model is the small HRNet of
``examples/configs/synthetic_bottomup.yaml`` with the family's head, at 1/4 of the input resolution.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from posekit.cli import main as posekit

HRNET = {
    "type": "HRNet",
    "in_channels": 3,
    "extra": {
        "stage1": {"num_modules": 1, "num_branches": 1, "block": "BOTTLENECK", "num_blocks": [2], "num_channels": [32]},
        "stage2": {
            "num_modules": 1,
            "num_branches": 2,
            "block": "BASIC",
            "num_blocks": [2, 2],
            "num_channels": [18, 36],
        },
        "stage3": {
            "num_modules": 1,
            "num_branches": 3,
            "block": "BASIC",
            "num_blocks": [2, 2, 2],
            "num_channels": [18, 36, 72],
        },
        "stage4": {
            "num_modules": 1,
            "num_branches": 4,
            "block": "BASIC",
            "num_blocks": [2, 2, 2, 2],
            "num_channels": [18, 36, 72, 144],
            "multiscale_output": True,
        },
    },
}


def family(name: str, size: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The codec, head and train/test switches of ``name`` for a ``size`` x ``size`` input."""
    maps = size // 4
    if name == "cid":
        codec = {"type": "DecoupledHeatmap", "input_size": [size, size], "heatmap_size": [maps, maps]}
        head = {
            "type": "CIDHead",
            "in_channels": 270,
            "num_keypoints": 17,
            "gfd_channels": 32,
            "decoder": codec,
            "coupled_heatmap_loss": {"type": "FocalHeatmapLoss", "loss_weight": 1.0},
            "decoupled_heatmap_loss": {"type": "FocalHeatmapLoss", "loss_weight": 4.0},
            "contrastive_loss": {"type": "InfoNCELoss", "temperature": 0.05},
        }
        return codec, head, {"train_cfg": {"max_train_instances": 200}, "test_cfg": {"flip_test": True}}
    codec = {
        "type": "SPR",
        "input_size": [size, size],
        "heatmap_size": [maps, maps],
        "sigma": [4, 2],
        "minimal_diagonal_length": 32**0.5 * maps / 128,
        "generate_keypoint_heatmaps": True,
        "decode_max_instances": 10,
    }
    head = {
        "type": "DEKRHead",
        "in_channels": 270,
        "num_keypoints": 17,
        "decoder": codec,
        "heatmap_loss": {"type": "KeypointMSELoss", "use_target_weight": True},
        "displacement_loss": {
            "type": "SoftWeightSmoothL1Loss",
            "use_target_weight": True,
            "supervise_empty": False,
            "beta": 1 / 9,
            "loss_weight": 0.002,
        },
    }
    return codec, head, {"test_cfg": {"flip_test": True, "nms_dist_thr": 0.05, "shift_heatmap": True}}


def config(name: str, data: Path, work: Path, size: int, epochs: int, batch: int) -> dict[str, Any]:
    codec, head, switches = family(name, size)
    coco = {"type": "CocoDataset", "data_mode": "bottomup", "data_root": str(data)}
    train = [
        {"type": "LoadImage"},
        {"type": "BottomupRandomAffine", "input_size": [size, size]},
        {"type": "RandomFlip", "direction": "horizontal"},
        {"type": "GenerateTarget", "encoder": codec},
        {"type": "BottomupGetHeatmapMask"},
        {"type": "PackPoseInputs"},
    ]
    val = [
        {"type": "LoadImage"},
        {"type": "BottomupResize", "input_size": [size, size], "size_factor": 32, "resize_mode": "expand"},
        {"type": "PackPoseInputs"},
    ]
    return {
        "work_dir": str(work),
        "metainfo": "coco",
        "model": {
            "type": "BottomupPoseEstimator",
            "data_preprocessor": {
                "type": "PoseDataPreprocessor",
                "mean": [123.675, 116.28, 103.53],
                "std": [58.395, 57.12, 57.375],
                "bgr_to_rgb": True,
            },
            "backbone": HRNET,
            "neck": {"type": "FeatureMapProcessor", "concat": True},
            "head": head,
            **switches,
        },
        "data": {
            "train": {
                "batch_size": batch,
                "num_workers": 1,
                "dataset": {
                    **coco,
                    "ann_file": "annotations/person_keypoints_train2017.json",
                    "data_prefix": {"img": "train2017/"},
                    "pipeline": train,
                },
            },
            "val": {
                "batch_size": 1,
                "num_workers": 1,
                "dataset": {
                    **coco,
                    "ann_file": "annotations/person_keypoints_val2017.json",
                    "data_prefix": {"img": "val2017/"},
                    "test_mode": True,
                    "pipeline": val,
                },
            },
        },
        "evaluator": [
            {
                "type": "CocoMetric",
                "ann_file": str(data / "annotations/person_keypoints_val2017.json"),
                "score_mode": "keypoint",
                "nms_mode": "none",
            }
        ],
        "optim": {"optimizer": {"type": "Adam", "lr": 1.5e-3}},
        "train": {"epochs": epochs, "val_interval": 1, "progress": False},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=("cid", "dekr"), required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--num-train", type=int, default=400)
    parser.add_argument("--num-val", type=int, default=50)
    parser.add_argument("--size", type=int, default=128, help="input side (the synthetic images' too)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--work", type=Path, default=None, help="folder for the data and the run")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix=f"bottomup-{args.family}-"))
    data = work / "data"
    synth = ["data", "synth", "--out", str(data), "--num-train", str(args.num_train), "--num-val", str(args.num_val)]
    if posekit([*synth, "--size", f"{args.size}x{args.size}", "--seed", "0"]) != 0:
        raise SystemExit("posekit data synth failed")
    cfg = config(args.family, data, work / "run", args.size, args.epochs, args.batch)
    path = work / f"{args.family}.json"
    path.write_text(json.dumps(cfg))
    code = posekit(["train", str(path)])
    rows = [json.loads(line) for line in (work / "run" / "scalars.jsonl").read_text().splitlines()]
    print(f"\n{args.family}: {args.num_train} synthetic images {args.size}x{args.size}, COCO AP after each epoch")
    print("epoch      AP      AR")
    for r in rows:
        if r["mode"] == "val":
            print(f"{r['epoch']:5d}  {r['coco/AP']:.4f}  {r['coco/AR']:.4f}")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
