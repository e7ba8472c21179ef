"""A paradigm is a plugin, end to end: a throw-away distribution pip-installed for real (non-editable).

The plugin ships a paradigm that subclasses only ``posekit.protocols.BasePoseEstimator`` (whole
images in, one person out, served through its own :class:`~posekit.protocols.Serving`) and a
DSNT-style soft-argmax head trained on ``RegressionLabel`` targets, a family posekit does not
ship. With their names in a YAML config, ``posekit train``, ``posekit test`` and ``posekit
infer`` (a folder of images and a video) run in real processes; a paradigm without ``serving()``
gets an error naming the estimator, its distribution and the method to implement.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

DIST = "posekit-paradigm-probe"

PYPROJECT = f"""
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{DIST}"
version = "0.1.0"
dependencies = ["posekit"]

[project.entry-points."posekit.estimators"]
WholeImagePose = "paradigm_probe:WholeImagePose"
UnservedPose = "paradigm_probe:UnservedPose"

[project.entry-points."posekit.heads"]
SoftArgmaxHead = "paradigm_probe:SoftArgmaxHead"

[tool.setuptools]
py-modules = ["paradigm_probe"]
"""

MODULE = '''
"""A whole-image single-person paradigm and a DSNT-style soft-argmax head."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from posekit.estimators.base import input_to_image, to_result
from posekit.inference import PoseInstance
from posekit.inference.results import instances_from_results
from posekit.protocols import BaseHead, BasePoseEstimator, ImageRequest, Serving
from posekit.registry import build
from posekit.structures import InstanceData, PoseBatch, PoseResult, PoseSample, TestCfg, TrainCfg
from posekit.transforms import Compose
from posekit.types import BackboneConfig, CodecConfig, DataPreprocessorConfig, HeadConfig


class SoftArgmaxHead(BaseHead):
    """1x1 conv to K maps, spatial softmax, expected (x, y) in [0, 1]: ``(B, K, 2)``.

    Args:
        in_channels: channels of the last feature map.
        out_channels: keypoints K.
        decoder: a ``RegressionLabel`` codec config.
    """

    def __init__(self, in_channels: int, out_channels: int, decoder: CodecConfig | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.decoder = build("codec", decoder) if decoder is not None else None

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        maps = self.conv(feats[-1])
        b, k, h, w = maps.shape
        prob = maps.flatten(2).softmax(-1).reshape(b, k, h, w)
        xs = (torch.arange(w, dtype=prob.dtype) + 0.5) / w
        ys = (torch.arange(h, dtype=prob.dtype) + 0.5) / h
        return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], -1)

    def loss(self, feats: tuple[Tensor, ...], batch: PoseBatch, train_cfg: TrainCfg) -> dict[str, Tensor]:
        pred = self.forward(feats)
        labels = batch.instance_targets("keypoint_labels", pred)
        weights = batch.instance_targets("keypoint_weights", pred).unsqueeze(-1)
        return {"loss_kpt": ((pred - labels).abs() * weights).mean()}

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        coords = self.forward(feats).detach().cpu().float().numpy()[:, None]
        return [InstanceData(keypoints=k, keypoint_scores=s) for k, s in self.decoder.batch_decode(coords)]


    def export_outputs(self, outputs: Tensor, flip_outputs: Any, flip_indices: Any, test_cfg: TestCfg) -> Any:
        """``(B, 1, K, 2)``, the layout ``RegressionLabel.batch_decode`` takes; no flip-back (None)."""
        return None if flip_outputs is not None else (outputs[:, None],)


class WholeImagePose(BasePoseEstimator):
    """One person per image: the whole image is the crop; keypoints mapped back to image pixels.

    Args:
        backbone: the backbone's config.
        head: the head's config.
        data_preprocessor: the data preprocessor's config.
    """

    def __init__(
        self, backbone: BackboneConfig, head: HeadConfig, data_preprocessor: DataPreprocessorConfig | None = None
    ) -> None:
        super().__init__()
        self.data_preprocessor = build("data_preprocessor", data_preprocessor or {"type": "PoseDataPreprocessor"})
        self.backbone = build("backbone", backbone)
        self.head = build("head", head)
        self.test_cfg = TestCfg()

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        return self.backbone(inputs)

    def _forward(self, inputs: Tensor) -> Tensor:
        return self.head(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, batch: PoseBatch) -> dict[str, Tensor]:
        return self.head.loss(self.extract_feat(inputs), batch, TrainCfg())

    def predict(self, inputs: Tensor, batch: PoseBatch) -> list[PoseResult]:
        results = []
        preds = self.head.predict(self.extract_feat(inputs), batch, self.test_cfg)
        for pred, sample in zip(preds, batch.samples, strict=True):
            pred.keypoints = input_to_image(pred.keypoints, sample)
            scores = sample.bbox_score if len(sample.bbox_score) else np.ones(1, np.float32)
            results.append(to_result(pred, sample, sample.bbox, scores))
        return results

    def serving(self) -> Serving:
        return WholeImageServing(self)


class WholeImageServing(Serving):
    """Whole images in (``"image"`` requests); the image is the person box."""

    request: ClassVar[str] = "image"

    def __init__(self, model: WholeImagePose) -> None:
        super().__init__(model)
        self.pipeline = Compose(self.test_pipeline())

    def default_pipeline(self) -> list[dict[str, Any]]:
        size = self.model.head.decoder.input_size
        return [{"type": "GetBBoxCenterScale", "padding": 1.0}, {"type": "TopdownAffine", "input_size": size},
                {"type": "PackPoseInputs"}]

    @torch.inference_mode()
    def predict(self, requests: Iterable[ImageRequest]) -> Iterator[list[PoseInstance]]:
        for r in requests:
            h, w = r.img.shape[:2]
            box = np.array([[0, 0, w, h]], np.float32)
            sample = self.pipeline(PoseSample(img=r.img, img_path=r.path, img_id=r.index, bbox=box,
                                              bbox_score=np.ones(1, np.float32), img_shape=(h, w), ori_shape=(h, w)))
            batch = self.model.data_preprocessor(PoseBatch(inputs=sample.inputs[None], targets={}, samples=[sample]))
            yield instances_from_results(self.model(batch.inputs, batch, mode="predict"))


class UnservedPose(WholeImagePose):
    """The same paradigm, its serving left out: inference must name what is missing."""

    serving = BasePoseEstimator.serving
'''

SIZE = 64


def _posekit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "posekit", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def _infer(trained: tuple[Path, Path, Path], source: Path, out: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``posekit infer`` of the trained checkpoint on ``source``, written to ``root / out``."""
    root, config, checkpoint = trained
    return _posekit(
        "infer",
        str(config),
        "--checkpoint",
        str(checkpoint),
        "--input",
        str(source),
        *args,
        "--out",
        str(root / out),
        cwd=root,
    )


def _config(data: Path, work: Path) -> dict:
    pipeline_head = [{"type": "LoadImage"}, {"type": "GetBBoxCenterScale", "padding": 1.0}]
    affine = {"type": "TopdownAffine", "input_size": [SIZE, SIZE]}
    codec = {"type": "RegressionLabel", "input_size": [SIZE, SIZE]}

    def split(name: str, test_mode: bool, pipeline: list) -> dict:
        dataset = {
            "type": "CocoDataset",
            "data_root": str(data),
            "ann_file": f"annotations/person_keypoints_{name}2017.json",
            "data_prefix": {"img": f"{name}2017/"},
            "pipeline": pipeline,
        }
        if test_mode:
            dataset["test_mode"] = True
        return {"batch_size": 2, "num_workers": 0, "dataset": dataset}

    train = [*pipeline_head, affine, {"type": "GenerateTarget", "encoder": codec}, {"type": "PackPoseInputs"}]
    return {
        "work_dir": str(work),
        "metainfo": "coco",
        "model": {
            "type": "WholeImagePose",
            "backbone": {"type": "ResNet", "depth": 18},
            "head": {"type": "SoftArgmaxHead", "in_channels": 512, "out_channels": 17, "decoder": codec},
        },
        "data": {
            "train": split("train", False, train),
            "val": split("val", True, [*pipeline_head, affine, {"type": "PackPoseInputs"}]),
        },
        "evaluator": [{"type": "CocoMetric", "ann_file": str(data / "annotations/person_keypoints_val2017.json")}],
        "optim": {"optimizer": {"type": "Adam", "lr": 0.001}},
        "train": {"epochs": 1, "val_interval": 1, "seed": 0},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """Install the probe distribution, write synthetic data, train one epoch: (folder, config, checkpoint)."""
    root = tmp_path_factory.mktemp("paradigm")
    dist = root / "dist"
    dist.mkdir()
    (dist / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (dist / "paradigm_probe.py").write_text(MODULE)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", str(dist)], check=True, timeout=300)
    try:
        synth = _posekit(
            "data",
            "synth",
            "--out",
            str(root / "data"),
            "--num-train",
            "4",
            "--num-val",
            "2",
            "--size",
            f"{SIZE}x{SIZE}",
            cwd=root,
        )
        assert synth.returncode == 0, synth.stderr
        config = root / "probe.yaml"
        config.write_text(yaml.safe_dump(_config(root / "data", root / "work")))
        done = _posekit("train", str(config), cwd=root)
        assert done.returncode == 0, done.stderr[-3000:]
        checkpoint = root / "work" / "epoch_1.pth"
        assert checkpoint.is_file(), sorted(p.name for p in (root / "work").iterdir())
        yield root, config, checkpoint
    finally:
        subprocess.run([*pip, "uninstall", "-y", DIST], check=True, timeout=120)


def test_the_probe_is_a_real_non_editable_install(trained: tuple[Path, Path, Path]) -> None:
    from importlib.metadata import distribution

    dist = distribution(DIST)
    files = [str(f) for f in dist.files or ()]
    assert "paradigm_probe.py" in files, files  # the module itself was copied, not linked to the source folder
    names = {(ep.group, ep.name) for ep in dist.entry_points}
    assert {("posekit.estimators", "WholeImagePose"), ("posekit.heads", "SoftArgmaxHead")} <= names


def test_posekit_test_evaluates_the_plugin_paradigm(trained: tuple[Path, Path, Path]) -> None:
    root, config, checkpoint = trained
    out = root / "metrics.json"
    done = _posekit("test", str(config), "--checkpoint", str(checkpoint), "--out", str(out), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert "coco/AP" in metrics and all(np.isfinite(v) for v in metrics.values())


def test_posekit_infer_serves_a_folder_and_a_video(trained: tuple[Path, Path, Path]) -> None:
    root = trained[0]
    images = sorted((root / "data" / "val2017").glob("*.jpg"))
    done = _infer(trained, images[0].parent, "out_images")
    assert done.returncode == 0, done.stderr[-3000:]
    for image in images:
        record = json.loads((root / "out_images/predictions" / f"{image.stem}.json").read_text())
        (person,) = record["instances"]
        keypoints = np.asarray(person["keypoints"])
        assert keypoints.shape == (17, 2) and ((keypoints >= 0) & (keypoints <= SIZE)).all()
        assert (root / "out_images/vis" / image.name).is_file()
    video = root / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (SIZE, SIZE))
    for image in images * 2:
        writer.write(cv2.imread(str(image)))
    writer.release()
    done = _infer(trained, video, "out_video")
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((root / "out_video/predictions/clip.json").read_text())
    assert [len(f["instances"]) for f in record["frames"]] == [1] * (2 * len(images))
    assert (root / "out_video/vis/clip.mp4").stat().st_size > 0


def test_posekit_export_runs_the_plugin_paradigm_in_onnxruntime(trained: tuple[Path, Path, Path]) -> None:
    root, config, checkpoint = trained
    out = root / "probe.onnx"
    done = _posekit("export", str(config), "--checkpoint", str(checkpoint), "-o", str(out), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SoftArgmaxHead has no export decoding: exporting raw outputs, decoded by RegressionLabel" in done.stdout
    from posekit_onnx import compare_with_torch  # posekit-onnx: the distribution `posekit export` comes from

    import posekit
    from posekit.registry import refresh

    refresh()  # the probe was installed by another process after this one read the entry points
    model = posekit.init_model(str(config), str(checkpoint))
    keypoint_diff, score_diff = compare_with_torch(model, out)
    assert keypoint_diff < 1e-4 * SIZE and score_diff < 1e-4


def test_a_paradigm_without_serving_names_what_to_implement(trained: tuple[Path, Path, Path]) -> None:
    root = trained[0]
    image = next((root / "data" / "val2017").glob("*.jpg"))
    done = _infer(trained, image, "out_unserved", "--set", "model.type=UnservedPose")
    assert done.returncode != 0
    assert f"UnservedPose (from {DIST}) does not implement serving()" in done.stderr, done.stderr[-2000:]
    assert "Implement UnservedPose.serving()" in done.stderr


def test_a_missing_estimator_method_names_class_distribution_and_method() -> None:
    from posekit.errors import ContractError
    from posekit.protocols import BasePoseEstimator, Serving

    class Bare(BasePoseEstimator):
        pass

    with pytest.raises(
        ContractError, match=r"Bare \(from no installed distribution \(module .*\)\) does not implement predict"
    ):
        Bare()(None, None, "predict")
    with pytest.raises(NotImplementedError, match=r"Implement Serving.default_pipeline\(\)"):
        Serving(None, {"dataset_name": "x"}).test_pipeline()
