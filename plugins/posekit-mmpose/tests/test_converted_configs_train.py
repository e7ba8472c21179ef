"""Converted MMPose configs train and infer on data laid out as they expect.

One config per group (body, whole-body, face, hand, animal, lifting): converted with the real CLI,
the samples in ``../shared/data/`` copied to the paths its data sections name (``data_root``,
``ann_file``, ``data_prefix``, ``bbox_file``, camera and detection files), then ``posekit train``
for two iterations and ``posekit infer`` with the written checkpoint. The overrides only shrink
what would be slow on a CPU (iterations, batch sizes, workers) and drop the pretrained weights
(no network); the model's structure and its head's keypoint count stay the config's.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from posekit.metainfo import load_metainfo


@dataclass(frozen=True)
class Case:
    """A config, the shared sample that stands in for its dataset, and the definition it must use."""

    config: str  # under mmpose-configs/
    sample: str  # under data/: the annotation file (COCO JSON or Human3.6M .npz)
    definition: str  # the keypoint definition's registered name
    num_keypoints: int
    extra_files: tuple[tuple[str, str], ...] = ()  # (dataset field, sample file under data/)
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # infer's box; zeros: the whole image


CASES = {
    "body": Case(
        "body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py", "coco/test_coco.json", "coco", 17
    ),
    "wholebody": Case(
        "wholebody_2d_keypoint/rtmpose/coco-wholebody/rtmpose-m_8xb64-270e_coco-wholebody-256x192.py",
        "coco/test_coco_wholebody.json",
        "coco_wholebody",
        133,
        extra_files=(("bbox_file", "coco/test_coco_det_AP_H_56.json"),),
    ),
    "face": Case(
        "face_2d_keypoint/rtmpose/wflw/rtmpose-m_8xb64-60e_wflw-256x256.py", "wflw/test_wflw.json", "wflw", 98
    ),
    "hand": Case(
        "hand_2d_keypoint/topdown_heatmap/onehand10k/td-hm_mobilenetv2_8xb64-210e_onehand10k-256x256.py",
        "onehand10k/test_onehand10k.json",
        "onehand10k",
        21,
    ),
    "animal": Case(
        "animal_2d_keypoint/rtmpose/ap10k/rtmpose-m_8xb64-210e_ap10k-256x256.py", "ap10k/test_ap10k.json", "ap10k", 17
    ),
    "lifting": Case(
        "body_3d_keypoint/video_pose_lift/h36m/video-pose-lift_tcn-243frm-supv-cpn-ft_8xb128-200e_h36m.py",
        "h36m/test_h36m_body3d.npz",
        "h36m",
        17,
        extra_files=(
            ("camera_param_file", "h36m/cameras.pkl"),
            ("keypoint_2d_det_file", "h36m/test_h36m_2d_detection.npy"),
        ),
    ),
}

#: shrink only the run, never the model: two iterations, batches of 2, no workers, no downloads
RUN_OVERRIDES = [
    "train.max_iters=2",
    "train.device=cpu",
    "train.progress=false",
    *(f"data.{split}.{key}" for split in ("train", "val", "test") for key in ("batch_size=2", "num_workers=0")),
    *(f"data.{split}.persistent_workers=false" for split in ("train", "val", "test")),
]


def _posekit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m posekit ARGS`` in ``cwd``; a failure shows its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "posekit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
        timeout=300,
    )
    assert proc.returncode == 0, f"posekit {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _lay_out(experiment: dict[str, Any], case: Case, data: Path, root: Path) -> list[Path]:
    """Copy the sample to every path the converted data and evaluator sections name; returns its images."""
    sample = data / case.sample
    images: list[Path] = []
    if sample.suffix == ".json":
        names = [im["file_name"] for im in json.loads(sample.read_text())["images"]]
        images = [sample.parent / n for n in names]
    for split in ("train", "val", "test"):
        ds = experiment["data"][split]["dataset"]
        base = root / ds.get("data_root", "")
        _copy(sample, base / ds["ann_file"])
        img_dir = base / ds.get("data_prefix", {}).get("img", "")
        for image in images:
            _copy(image, img_dir / image.name)
        for field, extra in case.extra_files:
            if ds.get(field):  # bbox_file is relative to the working directory, as in MMPose
                _copy(data / extra, (root if field == "bbox_file" else base) / ds[field])
    for metric in experiment.get("evaluator") or []:
        if metric.get("ann_file"):
            _copy(sample, root / metric["ann_file"])
    return images


def _lifting_input(data: Path, path: Path) -> Path:
    """The sample's 2D Human3.6M keypoints as one track of ``posekit infer``'s JSON."""
    import numpy as np

    part = np.load(data / "h36m" / "test_h36m_body3d.npz")["part"]  # (F, 17, 3): x, y, visibility
    frames = [
        {"instances": [{"keypoints": p[:, :2].tolist(), "keypoint_scores": p[:, 2].tolist(), "track_id": 0}]}
        for p in part
    ]
    path.write_text(json.dumps({"width": 1000, "height": 1002, "dataset_name": "h36m", "frames": frames}))
    return path


@pytest.mark.parametrize("group", list(CASES))
def test_converted_config_trains_and_infers(group: str, shared: Path, tmp_path: Path) -> None:
    case = CASES[group]
    source = shared / "mmpose-configs" / case.config
    if not source.is_file():
        pytest.skip(f"{source} is absent (MMPose's configs are a shared fixture)")
    config = tmp_path / "config.yaml"
    _posekit("convert", "mmpose-config", str(source), "-o", str(config), cwd=tmp_path)
    experiment = yaml.safe_load(config.read_text())
    assert experiment["metainfo"] == case.definition
    images = _lay_out(experiment, case, shared / "data", tmp_path)

    overrides = [*RUN_OVERRIDES]
    if experiment["model"].get("backbone", {}).get("init_cfg"):
        overrides.append("model.backbone.init_cfg=null")  # pretrained weights come from the network
    sets = [a for o in overrides for a in ("--set", o)]
    _posekit("train", str(config), "--work-dir", "work", *sets, cwd=tmp_path)
    checkpoints = sorted((tmp_path / "work").rglob("*.pth"))
    assert checkpoints, f"posekit train wrote no checkpoint under {tmp_path / 'work'}"
    logged = [json.loads(line) for line in (tmp_path / "work" / "scalars.jsonl").read_text().splitlines()]
    trained = [r for r in logged if r["mode"] == "train"]
    assert trained[-1]["iter"] == 2 and math.isfinite(trained[-1]["loss"]), trained

    infer_input = _lifting_input(shared / "data", tmp_path / "track.json") if not images else images[0]
    box = [] if not images else ["--bbox", "0", "0", "10000", "10000"]
    model_sets = [a for o in overrides if o.startswith("model.") for a in ("--set", o)]
    _posekit(
        "infer",
        str(config),
        "--checkpoint",
        str(checkpoints[-1]),
        "--input",
        str(infer_input),
        "--out",
        "out",
        "--no-draw",
        *box,
        *model_sets,
        cwd=tmp_path,
    )
    written = sorted((tmp_path / "out" / "predictions").glob("*.json"))
    assert len(written) == 1, written
    record = json.loads(written[0].read_text())
    definition = load_metainfo(case.definition)
    assert record["dataset_name"] == definition.dataset_name
    assert record["keypoint_names"] == list(definition.keypoint_names)
    assert len(record["keypoint_names"]) == case.num_keypoints
    people = record["instances"] if "instances" in record else [p for f in record["frames"] for p in f["instances"]]
    assert people
    for person in people:
        assert len(person["keypoints"]) == case.num_keypoints
