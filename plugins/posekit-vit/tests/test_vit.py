"""VisionTransformer (ViTPose): MMPose 1.3.2 checkpoints load strictly and give MMPose's outputs
(fixtures/*.pth, written by ``fixtures/generate.py`` with MMPose's own Python, 1e-4 relative), with the
simple (neck + 3x3 final conv) and classic (deconvolution) HeatmapHead decoders; every ViTPose config
converts, checks and builds; one training step each; a size that does not fit the patches is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import posekit
from posekit.errors import ConfigError
from posekit.registry import build

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ("vitpose_simple", "vitpose_classic", "vit_cls_token", "swin", "pvt", "pvtv2")
REGENERATE = "~/.cache/posekit/mmpose-env/bin/python plugins/posekit-vit/tests/fixtures/generate.py"
TINY = {"embed_dims": 32, "num_layers": 2, "num_heads": 2, "feedforward_channels": 64}


def _close(actual: Any, expected: torch.Tensor, where: str) -> None:
    torch.testing.assert_close(
        actual, expected, rtol=1e-4, atol=1e-5, msg=lambda m: f"{where} (regenerate: {REGENERATE}): {m}"
    )


def _definition(tmp_path: Path, k: int) -> Path:
    """A keypoint definition of ``k`` points (the tiny fixtures' own)."""
    path = tmp_path / "tiny.yaml"
    points = "\n".join(f"  {i}: {{name: p{i}, id: {i}, color: [0, 0, 255], type: upper, swap: ''}}" for i in range(k))
    path.write_text(f"dataset_name: tiny\nkeypoint_info:\n{points}\nskeleton_info: {{}}\n")
    return path


@pytest.mark.parametrize("name", NAMES)
def test_mmpose_checkpoint_matches(name: str, tmp_path: Path) -> None:
    ref = torch.load(FIXTURES / f"{name}_outputs.pt", weights_only=True)
    scoped = ref["model"]["backbone"]["type"]  # as MMPose's config writes it: mmpretrain.VisionTransformer
    model_cfg = {**ref["model"], "metainfo": str(_definition(tmp_path, ref["heatmaps"].shape[1]))}
    model = posekit.init_model(model_cfg, FIXTURES / f"{name}.pth")  # strict: every key must match
    assert type(model.backbone).__name__ == scoped.rpartition(".")[2]
    with torch.no_grad():
        feats = model.backbone(ref["input"])
        neck = getattr(model, "neck", None)
        heatmaps = model.head(neck(feats) if neck is not None else feats)
    assert len(feats) == len(ref["feats"])
    for i, (f, e) in enumerate(zip(feats, ref["feats"], strict=True)):
        _close(f, e, f"{name}.pth backbone output {i}")
    _close(heatmaps, ref["heatmaps"], f"{name}.pth heatmaps")


MMPOSE_CONFIGS = pytest.mark.mmpose_configs(".VisionTransformer'")


def test_configs_found(posekit_configs: Any) -> None:
    configs = posekit_configs.mmpose_configs(*MMPOSE_CONFIGS.args, **MMPOSE_CONFIGS.kwargs)
    assert len(configs) == 12, f"expected MMPose's 12 ViTPose configs, found {len(configs)}"


@MMPOSE_CONFIGS
def test_mmpose_config_converts_checks_builds(posekit_configs: Any, mmpose_config: Path, tmp_path: Path) -> None:
    # whole: the layer-decay constructor converts to optim.optimizer.constructor, custom_imports is a note
    out = posekit_configs.convert_and_check(mmpose_config, tmp_path)
    constructor = posekit.load_config(out).optim.optimizer.constructor
    assert constructor is not None and constructor["type"] == "LayerDecayOptimWrapperConstructor"
    model_cfg = posekit.load_config(out).model
    assert model_cfg["backbone"]["type"] == "VisionTransformer"  # the scope dropped by the converter
    model_cfg["backbone"].pop("init_cfg")  # MMPose's MAE weights: not downloaded here
    with torch.device("meta"):  # ViT-H is 630M parameters: shapes only
        model = build("estimator", model_cfg)
    backbone = model.backbone
    arch = model_cfg["backbone"]["arch"]  # ViTPose-S writes a dict, the others a name
    depth = arch["num_layers"] if isinstance(arch, dict) else {"base": 12, "large": 24, "huge": 32}[arch]
    assert type(backbone).__name__ == "VisionTransformer" and len(backbone.layers) == depth
    assert backbone.patch_resolution == (16, 12) and backbone.pos_embed.shape[1] == 16 * 12
    assert model.head.in_channels == backbone.embed_dims


@pytest.mark.parametrize(
    ("head", "neck"),
    [
        ({"deconv_out_channels": (), "deconv_kernel_sizes": (), "final_layer": {"kernel_size": 3, "padding": 1}},
         {"type": "FeatureMapProcessor", "scale_factor": 4.0, "apply_relu": True}),
        ({"deconv_out_channels": (16, 16), "deconv_kernel_sizes": (4, 4)}, None),
    ],
    ids=["simple", "classic"],
)  # fmt: skip
def test_one_training_step(posekit_check: Any, head: dict[str, Any], neck: dict[str, Any] | None) -> None:
    """A tiny ViTPose (both decoders) trains one step; every backbone parameter gets a finite gradient."""
    codec = {"type": "UDPHeatmap", "input_size": (48, 64), "heatmap_size": (12, 16), "sigma": 2.0}
    backbone = {
        "type": "VisionTransformer",
        "arch": TINY,
        "img_size": (64, 48),
        "qkv_bias": True,
        "drop_path_rate": 0.3,
        "with_cls_token": False,
        "out_type": "featmap",
        "patch_cfg": {"padding": 2},
    }
    cfg = {
        "type": "TopdownPoseEstimator",
        "backbone": backbone,
        "head": {"type": "HeatmapHead", "in_channels": 32, "out_channels": 17, **head, "decoder": codec},
        **({"neck": neck} if neck else {}),
    }
    cfg["backbone"]["type"] = "VisionTransformer"
    model = posekit_check.estimator(cfg, posekit_check.random_topdown_batch(build("codec", codec), batch_size=2))
    grads = {n: p.grad for n, p in model.backbone.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), sorted(grads)
    assert float(grads["pos_embed"].abs().sum()) > 0


def test_size_that_does_not_fit_the_patches_is_refused_at_config_check(
    posekit_configs: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from posekit.cli import main

    out = tmp_path / "vitpose.yaml"
    configs = posekit_configs.mmpose_configs(*MMPOSE_CONFIGS.args)
    path = next(p for p in configs if p.stem.startswith("td-hm_ViTPose-base-simple"))
    assert main(["convert", "mmpose-config", str(path), "-o", str(out), "--partial"]) == 0
    assert main(["config", "check", str(out), "--set", "model.backbone.img_size=[250,192]"]) != 0
    err = capsys.readouterr().err
    assert "backbone VisionTransformer" in err and "img_size (250, 192) does not fit patch_size 16" in err, err


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"img_size": (64, 50)}, r"img_size \(64, 50\) does not fit patch_size 16"),
        ({"img_size": 64, "patch_size": 12}, r"img_size \(64, 64\) does not fit patch_size 12"),
        ({"out_indices": (2,)}, r"out_indices \(2,\) must be layer indices in \[-2, 2\)"),
        ({"frozen_stages": 3}, r"frozen_stages must be in \[-1, 2\]"),
        ({"out_type": "cls_token", "with_cls_token": False}, "needs with_cls_token=True"),
    ],
)
def test_bad_config_is_named(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("backbone", {"type": "VisionTransformer", "arch": TINY, "img_size": (64, 48), **cfg})


def test_frozen_stages() -> None:
    model = build(
        "backbone", {"type": "VisionTransformer", "arch": TINY, "img_size": (64, 48), "frozen_stages": 1}
    ).train()
    frozen = ("pos_embed", "cls_token", "patch_embed.", "layers.0.")
    for name, p in model.named_parameters():
        assert p.requires_grad != name.startswith(frozen), name
    assert not model.layers[0].training and model.layers[1].training


def test_checkpoint_pos_embed_is_fitted() -> None:
    """As mmpretrain: a checkpoint's class-token position is dropped when the model has none, and a square
    position grid is resized to the model's (MAE's 14 x 14 into ViTPose's 16 x 12)."""
    featmap = {"type": "VisionTransformer", "arch": TINY, "with_cls_token": False, "out_type": "featmap"}
    dst = build("backbone", {**featmap, "img_size": (64, 48)})  # a 4 x 3 grid
    with_cls = build("backbone", {"type": "VisionTransformer", "arch": TINY, "img_size": (64, 48)})
    state = {k: v for k, v in with_cls.state_dict().items() if k != "cls_token"}
    dst.load_state_dict(state)
    torch.testing.assert_close(dst.pos_embed, with_cls.pos_embed[:, 1:])
    square = build("backbone", {**featmap, "img_size": 64})  # 4 x 4
    dst.load_state_dict(square.state_dict())
    assert dst.pos_embed.shape == (1, 12, 32)
    grid = square.pos_embed.reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, size=(4, 3), mode="bicubic", align_corners=False)
    torch.testing.assert_close(dst.pos_embed, expected.flatten(2).transpose(1, 2))


def test_scoped_names_resolve_as_mmpose_resolves_them(tmp_path: Path) -> None:
    """``mmcls.VisionTransformer`` (mmcls 1.0rc's ``output_cls_token=False``) gives the same model as
    ``mmpretrain.VisionTransformer`` with ``out_type='featmap'``; a scope MMPose does not have is refused."""
    ref = torch.load(FIXTURES / "vitpose_simple_outputs.pt", weights_only=True)
    backbone = {k: v for k, v in ref["model"]["backbone"].items() if k != "out_type"}
    mmcls = {**ref["model"], "backbone": {**backbone, "type": "mmcls.VisionTransformer", "output_cls_token": False}}
    mmcls["metainfo"] = str(_definition(tmp_path, ref["heatmaps"].shape[1]))
    model = posekit.init_model(mmcls, FIXTURES / "vitpose_simple.pth")
    with torch.no_grad():
        _close(model.head(model.neck(model.backbone(ref["input"]))), ref["heatmaps"], "mmcls-scoped vitpose_simple")
    with pytest.raises(ConfigError, match=r"backbone 'mmfoo\.VisionTransformer'"):
        posekit.init_model({**mmcls, "backbone": {**mmcls["backbone"], "type": "mmfoo.VisionTransformer"}})
