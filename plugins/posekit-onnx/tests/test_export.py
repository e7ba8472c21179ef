"""ONNX export through the head: every shipped top-down head exports and onnxruntime equals torch to 1e-4.

A head decodes in the graph (``export_decode``) or exports its raw outputs, which the onnxruntime
backend decodes with the codec recorded in the file; the ONNX Inferencer matches MMPose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pytest
import torch
from torch import Tensor, nn

import posekit
from posekit.codec_utils import flip_coordinates
from posekit.inference import Inferencer
from posekit.protocols import BaseHead
from posekit.structures import InstanceData, PoseBatch

if TYPE_CHECKING:
    from posekit.structures import TestCfg

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TOPDOWN = ("rtmpose-t_coco-256x192", "simplebaseline-res18-narrow_coco-256x192", "hrnet-w18_coco-256x192")
SIZE = [64, 64]  # (w, h) of the tiny models' input
HEATMAP = {"type": "HeatmapHead", "in_channels": 128, "out_channels": 17, "deconv_out_channels": [32, 32, 32]}
SIMCC = {"in_channels": 128, "out_channels": 17, "input_size": SIZE, "in_featuremap_size": [2, 2]}
REGRESSION = {"in_channels": 128, "num_joints": 17, "decoder": {"type": "RegressionLabel", "input_size": SIZE}}
#: every shipped top-down head, with each codec family it decodes in the graph or at run time
HEADS: dict[str, tuple[dict[str, Any], bool, bool]] = {  # name: (head config, pooled features, graph-decoded)
    "HeatmapHead+MSRAHeatmap": (
        {**HEATMAP, "decoder": {"type": "MSRAHeatmap", "input_size": SIZE, "heatmap_size": [16, 16], "sigma": 2}},
        False,
        True,
    ),
    "HeatmapHead+UDPHeatmap": (
        {**HEATMAP, "decoder": {"type": "UDPHeatmap", "input_size": SIZE, "heatmap_size": [16, 16], "sigma": 2}},
        False,
        False,
    ),
    "HeatmapHead+MSRAHeatmap(unbiased)": (
        {
            **HEATMAP,
            "decoder": {
                "type": "MSRAHeatmap",
                "input_size": SIZE,
                "heatmap_size": [16, 16],
                "sigma": 2,
                "unbiased": True,
            },
        },
        False,
        False,
    ),
    "SimCCHead": (
        {
            **SIMCC,
            "type": "SimCCHead",
            "deconv_out_channels": None,
            "decoder": {"type": "SimCCLabel", "input_size": SIZE, "sigma": 6.0, "simcc_split_ratio": 2.0},
        },
        False,
        True,
    ),
    "RTMCCHead+SimCCLabel(dark)": (
        {
            **SIMCC,
            "type": "RTMCCHead",
            "gau_cfg": {"hidden_dims": 32, "s": 16},
            "decoder": {
                "type": "SimCCLabel",
                "input_size": SIZE,
                "sigma": [4.9, 5.66],
                "simcc_split_ratio": 2.0,
                "use_dark": True,
            },
        },
        False,
        False,
    ),
    "RegressionHead": ({**REGRESSION, "type": "RegressionHead"}, True, True),
    "RLEHead": ({**REGRESSION, "type": "RLEHead"}, True, True),
    "IntegralRegressionHead": (
        {
            "type": "IntegralRegressionHead",
            "in_channels": 128,
            "in_featuremap_size": [2, 2],
            "num_joints": 17,
            "deconv_out_channels": [32, 32, 32],
            "decoder": {"type": "IntegralRegressionLabel", "input_size": SIZE, "heatmap_size": [16, 16], "sigma": 2},
        },
        False,
        True,
    ),
}


def tiny_config(
    posekit_configs: Any, head: dict[str, Any] | None, pooled: bool = False, **test_cfg: Any
) -> dict[str, Any]:
    """A top-down model dict on 64x64 crops: a narrow ResNet-18 (pooled: and GlobalAveragePooling) and ``head``."""
    config = {
        "type": "TopdownPoseEstimator",
        "data_preprocessor": posekit_configs.IMAGENET_PREPROCESSOR,
        "backbone": {"type": "ResNet", "depth": 18, "base_channels": 16, "stem_channels": 16},
        "head": head or HEATMAP,
        "test_cfg": test_cfg,
    }
    if pooled:
        config["neck"] = {"type": "GlobalAveragePooling"}
    return config


def tiny_topdown(posekit_configs: Any, head: dict[str, Any] | None, pooled: bool = False, **test_cfg: Any) -> nn.Module:
    """:func:`tiny_config`'s estimator with seeded random weights, its head's scaled up."""
    torch.manual_seed(0)
    model = posekit.init_model(tiny_config(posekit_configs, head, pooled, **test_cfg))
    with torch.no_grad():  # spread the head's outputs so that no two maxima nearly tie
        for p in model.head.parameters():
            p.mul_(20.0)
    return model


def assert_exports_like_torch(
    model: nn.Module, path: Path, crops: torch.Tensor | None = None, **export: Any
) -> dict[str, Any]:
    """Export ``model`` to ``path`` and check that onnxruntime, decoding included, equals torch's ``predict``.

    Keypoints to ``1e-4`` of the input size, scores to ``1e-4`` of the largest score, on ``crops``
    (``(B, 3, H, W)`` uint8; default: random ones). Returns the file's metadata.
    """
    from posekit_onnx import compare_with_torch, export_onnx, file_metadata

    export_onnx(model, path, **export)  # verifies the graph's outputs against torch's to 1e-4
    dk, ds = compare_with_torch(model, path, crops)
    size = max(int(v) for v in model.head.decoder.input_size)
    assert dk <= 1e-4 * size, f"{path}: keypoints differ from torch's predict by {dk:.2e} input pixels"
    assert ds <= 1e-4, f"{path}: scores differ from torch's predict by {ds:.2e} of their scale"
    return file_metadata(path)


@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("name", list(HEADS))
def test_every_shipped_head_exports(posekit_configs: Any, tmp_path: Path, name: str, flip: bool) -> None:
    """Graph outputs equal torch's for every head; decoded results too where decoding is an argmax or linear.

    DARK / UDP refinement (the codec-decoded rows) is ill-conditioned on random weights: those
    decoded results are compared on trained weights and real crops below.
    """
    from posekit_onnx import export_onnx, file_metadata

    head, pooled, decoded = HEADS[name]
    model = tiny_topdown(posekit_configs, head, pooled, flip_test=flip, shift_heatmap=flip and "UDP" not in name)
    path = tmp_path / "model.onnx"
    info = assert_exports_like_torch(model, path, dynamic_batch=True) if decoded else None
    if not decoded:
        info = file_metadata(export_onnx(model, path, dynamic_batch=True))
    assert info["decoded"] is decoded and info["flip_test"] is flip
    assert info["outputs"][0] == ("keypoints" if decoded else "output_0")
    assert info["codec"] == head["decoder"]  # what the backend rebuilds the codec from


REFINED = {  # fixture, its decoder changed to a refining one, test_cfg
    "UDPHeatmap": (
        "simplebaseline-res18-narrow_coco-256x192",
        {"type": "UDPHeatmap", "input_size": [192, 256], "heatmap_size": [48, 64], "sigma": 2},
        {"flip_test": True, "flip_mode": "heatmap", "shift_heatmap": False},
    ),
    "MSRAHeatmap(unbiased)": (
        "simplebaseline-res18-narrow_coco-256x192",
        {
            "type": "MSRAHeatmap",
            "input_size": [192, 256],
            "heatmap_size": [48, 64],
            "sigma": 2,
            "unbiased": True,
            "blur_kernel_size": 11,
        },
        {"flip_test": True, "shift_heatmap": True},
    ),
    "SimCCLabel(dark)": ("rtmpose-t_coco-256x192", {"use_dark": True}, {"flip_test": False}),
}


def _real_crops(shared: Path, boxes: list[list[int]], size: tuple[int, int] = (192, 256)) -> torch.Tensor:
    """``(B, 3, H, W)`` uint8 BGR crops of ``boxes`` (xyxy) of a COCO image, resized to ``size`` (w, h)."""
    img = cv2.imread(str(shared / "data/coco/000000000785.jpg"))
    crops = [cv2.resize(img[y0:y1, x0:x1], size, interpolation=cv2.INTER_LINEAR) for x0, y0, x1, y1 in boxes]
    return torch.from_numpy(np.stack(crops).transpose(0, 3, 1, 2).copy())


@pytest.mark.parametrize("codec", list(REFINED))
def test_codec_decoded_files_equal_torch(shared: Path, tmp_path: Path, codec: str) -> None:
    """A refining codec's raw outputs: onnxruntime's equal torch's to 1e-4, and the backend's decoding (the
    codec the file records) of torch's outputs equals torch's predict to 1e-4 (trained weights, real crops)."""
    from posekit_onnx import ExportablePoseModel, OnnxTopdown, export_onnx, torch_predict

    name, decoder, test_cfg = REFINED[codec]
    folder = shared / "fixtures/mmpose/models" / name
    config = json.loads((folder / "config.json").read_text())
    config["head"]["decoder"] = {**config["head"]["decoder"], **decoder}
    config["test_cfg"] = test_cfg
    model = posekit.init_model(config, folder / "checkpoint.pth")
    path = export_onnx(model, tmp_path / "raw.onnx", dynamic_batch=True)  # graph outputs checked to 1e-4
    backend = OnnxTopdown(path)
    assert backend.decoded is False and type(backend.codec).__name__ == config["head"]["decoder"]["type"]
    crops = _real_crops(shared, [[280, 44, 500, 392], [300, 60, 480, 300], [250, 100, 520, 420]])
    with torch.no_grad():
        outputs = [t.numpy() for t in ExportablePoseModel(model, model.dataset_meta["flip_indices"])(crops.float())]
    got_k, got_s = backend.decode(outputs)
    ref_k, ref_s = torch_predict(model, crops, test_cfg["flip_test"])
    assert np.abs(got_k - ref_k).max() <= 1e-4 * 256 and _rel(got_s, ref_s) <= 1e-4


class SoftArgmaxHead(BaseHead):
    """A DSNT-style head outside the shipped families, with no export decoding or flip-back.

    ``forward(feats)``: one conv to K maps, a spatial softmax and its expected location,
    ``(B, 1, K, 2)`` coordinates normalized by the map size (what ``RegressionLabel`` decodes).
    """

    def __init__(self, in_channels: int, num_joints: int, input_size: list[int]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, num_joints, 1)
        self.decoder = posekit.build("codec", {"type": "RegressionLabel", "input_size": input_size})

    def forward(self, feats: tuple[Tensor, ...]) -> Tensor:
        maps = self.conv(feats[-1])
        b, k, h, w = maps.shape
        prob = maps.reshape(b, k, h * w).softmax(-1).reshape(b, k, h, w)
        x = (prob.sum(2) * (torch.arange(w, dtype=prob.dtype) + 0.5) / w).sum(-1)
        y = (prob.sum(3) * (torch.arange(h, dtype=prob.dtype) + 0.5) / h).sum(-1)
        return torch.stack([x, y], dim=-1)[:, None]

    def predict(self, feats: Any, batch: PoseBatch, test_cfg: TestCfg) -> list[InstanceData]:
        if test_cfg.flip_test:
            sample = batch.samples[0]
            back = flip_coordinates(self(feats[1])[:, 0], sample.flip_indices, test_cfg.shift_coords, sample.input_size)
            coords = (self(feats[0]) + back[:, None]) * 0.5
        else:
            coords = self(feats)
        return [InstanceData(keypoints=k, keypoint_scores=s) for k, s in self.decoder.batch_decode(coords.numpy())]


class FlipBackSoftArgmaxHead(SoftArgmaxHead):
    """:class:`SoftArgmaxHead` with a graph-friendly flip-back, still no export decoding."""

    def export_outputs(
        self, outputs: Tensor, flip_outputs: Tensor | None, flip_indices: list[int], test_cfg: TestCfg
    ) -> tuple[Tensor]:
        if flip_outputs is None:
            return (outputs,)
        size = tuple(self.decoder.input_size)
        back = flip_coordinates(flip_outputs[:, 0], flip_indices, test_cfg.shift_coords, size)
        return ((outputs + back[:, None]) * 0.5,)


@pytest.mark.parametrize("head_cls", [SoftArgmaxHead, FlipBackSoftArgmaxHead])
@pytest.mark.parametrize("flip", [True, False])
def test_head_without_export_decoding_exports_raw_outputs(
    posekit_configs: Any, tmp_path: Path, head_cls: type, flip: bool
) -> None:
    """Raw outputs in the file, decoded by the recorded RegressionLabel at run time, equal torch's predict."""
    model = tiny_topdown(posekit_configs, None, flip_test=flip)
    model.head = head_cls(128, 17, SIZE)
    info = assert_exports_like_torch(model, tmp_path / "raw.onnx", dynamic_batch=True)
    assert info["decoded"] is False and info["outputs"] == ["output_0"]
    assert info["codec"] == {"type": "RegressionLabel", "input_size": SIZE}
    name = head_cls.__name__
    raw_note = f"{name} has no export decoding: exporting raw outputs, decoded by RegressionLabel at run time"
    dropped = flip and head_cls is SoftArgmaxHead
    assert info["flip_test"] is (flip and not dropped)
    assert info["notes"] == [f"{name} has no export flip-back: exporting without the flip test"] * dropped + [raw_note]
    if head_cls is SoftArgmaxHead:  # asked for explicitly, a flip test it cannot bake in is an error
        from posekit_onnx import export_onnx

        with pytest.raises(posekit.ConfigError, match=r"SoftArgmaxHead \(module .*\) has no export flip-back"):
            export_onnx(model, tmp_path / "flip.onnx", flip_test=True)


def _model(shared: Path, name: str, **test_cfg: object) -> tuple[torch.nn.Module, Path]:
    folder = shared / "fixtures/mmpose/models" / name
    config = json.loads((folder / "config.json").read_text())
    config["test_cfg"] = {**config.get("test_cfg", {}), **test_cfg}
    return posekit.init_model(config, folder / "checkpoint.pth"), folder


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("name", TOPDOWN)
def test_onnx_round_trip_dynamic_batch(shared: Path, tmp_path: Path, name: str, flip: bool) -> None:
    from posekit_onnx import ExportablePoseModel, compare_with_torch, export_onnx, ort_session

    model, folder = _model(shared, name, flip_test=flip)
    path = export_onnx(model, tmp_path / "model.onnx", dynamic_batch=True)
    session = ort_session(path)
    wrapper = ExportablePoseModel(model, model.dataset_meta["flip_indices"])
    crops = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (3, 3, 256, 192)).astype(np.float32))
    for batch in (1, 3):  # dynamic batch
        got = session.run(None, {"input": crops[:batch].numpy()})
        with torch.no_grad():
            ref = [t.numpy() for t in wrapper(crops[:batch])]
        for g, r, what in zip(got, ref, ("keypoints", "scores"), strict=True):
            assert g.shape == r.shape
            assert _rel(g, r) <= 1e-4, f"{folder}: onnxruntime {what} differ from torch by {_rel(g, r):.2e}"
    # the graph's decoding equals the head's own (estimator predict, numpy codecs), in input pixels
    dk, ds = compare_with_torch(model, path)
    assert dk <= 1e-3, f"{folder}: decoded keypoints differ from the head's predict by {dk:.2e} px"
    assert ds <= 1e-4, f"{folder}: decoded scores differ from the head's predict by {ds:.2e}"


@pytest.mark.parametrize("name", TOPDOWN)
def test_onnx_inferencer_matches_mmpose(shared: Path, tmp_path: Path, name: str) -> None:
    from posekit_onnx import export_onnx

    e2e = json.loads((shared / "fixtures/mmpose/models" / name / "e2e.json").read_text())
    for flip in (True, False):
        cases = [c for c in e2e["cases"] if c["test_cfg"]["flip_test"] == flip]
        model, folder = _model(shared, name, **cases[0]["test_cfg"])
        path = export_onnx(model, tmp_path / f"model-{flip}.onnx", dynamic_batch=True)
        inferencer = Inferencer(None, path, batch_size=2)
        for i, case in enumerate(cases):
            img = cv2.imread(str(shared / case["image"]))
            people = inferencer(img, case["bboxes"])
            dk = np.abs(np.stack([p.keypoints for p in people]) - np.asarray(case["keypoints"])).max()
            ref_s = np.asarray(case["keypoint_scores"])
            ds = np.abs(np.stack([p.keypoint_scores for p in people]) - ref_s).max() / np.abs(ref_s).max()
            where = f"{folder / 'e2e.json'} flip_test={flip} case {i} (onnxruntime)"
            assert dk <= 0.05, f"{where}: keypoints differ by {dk:.4f} px"
            assert ds <= 1e-4, f"{where}: scores differ by {ds:.2e}"


def test_static_batch_and_flip_mismatch(shared: Path, tmp_path: Path) -> None:
    from posekit_onnx import export_onnx

    model, _ = _model(shared, "rtmpose-t_coco-256x192", flip_test=False)
    path = export_onnx(model, tmp_path / "static.onnx", dynamic_batch=False, batch_size=2)
    inferencer = Inferencer(None, path)
    assert inferencer.serving.backend.fixed_batch == 2
    img = cv2.imread(str(shared / "data/coco/000000040083.jpg"))
    boxes = [[38.1, 110.9, 212.8, 285.7], [257.8, 139.1, 397.8, 293.3], [275.2, 126.5, 285.9, 194.8]]
    onnx_people = inferencer(img, boxes)  # 3 crops through a batch-2 graph
    torch_people = posekit.inference_topdown(model, img, boxes)
    for a, b in zip(onnx_people, torch_people, strict=True):
        assert np.abs(a.keypoints - b.keypoints).max() <= 1e-2
    with pytest.raises(posekit.ConfigError, match="re-export"):
        Inferencer(None, path, flip_test=True)


def test_inferencer_decodes_raw_outputs_without_a_config(shared: Path, tmp_path: Path) -> None:
    """A UDP heatmap file runs in the Inferencer from the file alone (its codec rebuilt from the metadata)."""
    from posekit_onnx import export_onnx

    name, decoder, test_cfg = REFINED["UDPHeatmap"]
    folder = shared / "fixtures/mmpose/models" / name
    config = json.loads((folder / "config.json").read_text())
    config["head"]["decoder"], config["test_cfg"] = decoder, test_cfg
    model = posekit.init_model(config, folder / "checkpoint.pth")
    path = export_onnx(model, tmp_path / "udp.onnx", dynamic_batch=True)
    img = cv2.imread(str(shared / "data/coco/000000000785.jpg"))
    box = [[280.79, 44.73, 499.49, 391.41]]
    ref = posekit.inference_topdown(model, img, box)[0]
    for inferencer in (Inferencer(None, path), Inferencer(config, path)):
        got = inferencer(img, box)[0]
        assert type(inferencer.serving.backend.codec).__name__ == "UDPHeatmap"
        assert np.abs(got.keypoints - ref.keypoints).max() <= 1e-4 * (391.41 - 44.73) * 1.25  # of the crop
        assert np.abs(got.keypoint_scores - ref.keypoint_scores).max() <= 1e-4 * np.abs(ref.keypoint_scores).max()


def test_cli_export(shared: Path, tmp_path: Path) -> None:
    from posekit.cli import main

    folder = shared / "fixtures/mmpose/models/rtmpose-t_coco-256x192"
    out = tmp_path / "rtm.onnx"
    args = [
        "export",
        str(folder / "config.json"),
        "--checkpoint",
        str(folder / "checkpoint.pth"),
        "--format",
        "onnx",
        "--dynamic-batch",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    import onnx

    graph = onnx.load(str(out)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [o.name for o in graph.output] == ["keypoints", "scores"]


def test_cli_export_says_when_the_codec_decodes(
    posekit_configs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from posekit.cli import main

    head, _, _ = HEADS["HeatmapHead+UDPHeatmap"]
    config = tmp_path / "udp.json"
    config.write_text(json.dumps(tiny_config(posekit_configs, head)))
    assert main(["export", str(config), "-o", str(tmp_path / "udp.onnx")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "HeatmapHead has no export decoding: exporting raw outputs, decoded by UDPHeatmap at run time"
    assert lines[1].startswith("wrote ")
