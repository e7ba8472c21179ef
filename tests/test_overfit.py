"""Each top-down family learns: a narrow model overfits 8 real COCO people within a few hundred CPU steps.

The first 8 people of ``shared/data/coco/test_coco.json`` go through the deterministic training
pipeline (LoadImage, GetBBoxCenterScale, TopdownAffine to 64x64, GenerateTarget with the family's
codec, PackPoseInputs), ``build_dataloader`` and the model's data preprocessor into one batch; a
plain Adam loop trains on it (one thread, fixed seed: the run is deterministic). Then

- the loss of the last steps must be 10x below the first step's;
- ``mode="predict"`` in eval mode, scored by ``PCKAccuracy`` (PCK@0.05 of the longer box side, in
  original image pixels, visible keypoints), must exceed 0.9.

Before predicting, the BatchNorm running statistics are re-estimated on the batch ("precise BN"):
CSPNeXt's BN momentum is 0.03, so after a hundred steps its running averages still lag the
weights, and an eval-mode forward would score the lag rather than what the model learnt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from posekit.data import build_dataloader
from posekit.registry import build
from posekit.structures import PoseBatch


def coco_dataset(**kwargs: Any) -> Any:
    """A ``CocoDataset`` (posekit-datasets), built by registry name."""
    return build("dataset", {"type": "CocoDataset", **kwargs})


SEED = 0
NUM_SAMPLES = 8
INPUT_SIZE = (64, 64)  # (w, h)
LOSS_DROP = 10.0
PCK_MIN = 0.9
#: ResNet-18 at a quarter of its width (stage widths 16-128)
RESNET18_NARROW = {"type": "ResNet", "depth": 18, "stem_channels": 16, "base_channels": 16}

MSRA = {"type": "MSRAHeatmap", "input_size": INPUT_SIZE, "heatmap_size": (32, 32), "sigma": 1.5}
SIMCC = {
    "type": "SimCCLabel",
    "input_size": INPUT_SIZE,
    "sigma": (2.0, 2.0),
    "simcc_split_ratio": 2.0,
    "normalize": False,
}
REGRESSION = {"type": "RegressionLabel", "input_size": INPUT_SIZE}

#: family -> (estimator config without type/preprocessor, codec, Adam steps, learning rate)
FAMILIES: dict[str, tuple[dict[str, Any], dict[str, Any], int, float]] = {
    # SimpleBaseline: 3 ResNet stages (stride 16) and 3 deconvs give 32x32 heatmaps (stride 2)
    "heatmap": (
        {
            "backbone": {
                **RESNET18_NARROW,
                "num_stages": 3,
                "strides": (1, 2, 2),
                "dilations": (1, 1, 1),
                "out_indices": (2,),
            },
            "head": {
                "type": "HeatmapHead",
                "in_channels": 64,
                "out_channels": 17,
                "deconv_out_channels": (32, 32, 32),
                "loss": {"type": "KeypointMSELoss", "use_target_weight": True},
                "decoder": MSRA,
            },
        },
        MSRA,
        200,
        2e-3,
    ),
    # RTMPose: CSPNeXt at 1/8 width (2x2x128 features at stride 32) and a narrow GAU
    "simcc": (
        {
            "backbone": {"type": "CSPNeXt", "deepen_factor": 0.167, "widen_factor": 0.125, "out_indices": (4,)},
            "head": {
                "type": "RTMCCHead",
                "in_channels": 128,
                "out_channels": 17,
                "input_size": INPUT_SIZE,
                "in_featuremap_size": (2, 2),
                "simcc_split_ratio": 2.0,
                "gau_cfg": {"hidden_dims": 32, "s": 16, "act_fn": "SiLU"},
                "loss": {"type": "KLDiscretLoss", "use_target_weight": True, "beta": 10.0, "label_softmax": True},
                "decoder": SIMCC,
            },
        },
        SIMCC,
        120,
        3e-3,
    ),
    # DeepPose: pooled ResNet features and a linear layer to normalised coordinates
    "regression": (
        {
            "backbone": RESNET18_NARROW,
            "neck": {"type": "GlobalAveragePooling"},
            "head": {
                "type": "RegressionHead",
                "in_channels": 128,
                "num_joints": 17,
                "loss": {"type": "SmoothL1Loss", "use_target_weight": True},
                "decoder": REGRESSION,
            },
        },
        REGRESSION,
        80,
        2e-3,
    ),
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: the same float summation order on every machine, and fair to a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _batch(shared: Path, codec: dict[str, Any]) -> PoseBatch:
    """The first ``NUM_SAMPLES`` COCO people through the deterministic training pipeline, as one batch."""
    dataset = coco_dataset(
        ann_file="coco/test_coco.json",
        data_root=str(shared / "data"),
        data_prefix={"img": "coco/"},
        indices=NUM_SAMPLES,
        seed=SEED,
        pipeline=(
            {"type": "LoadImage"},
            {"type": "GetBBoxCenterScale", "padding": 1.25},
            {"type": "TopdownAffine", "input_size": INPUT_SIZE},
            {"type": "GenerateTarget", "encoder": codec},
            {"type": "PackPoseInputs"},
        ),
    )
    assert len(dataset) == NUM_SAMPLES, f"{dataset.ann_file}: expected at least {NUM_SAMPLES} people"
    return next(iter(build_dataloader(dataset, batch_size=NUM_SAMPLES, shuffle=False, seed=SEED)))


def _precise_bn(model: torch.nn.Module, inputs: torch.Tensor) -> None:
    """Set every BatchNorm's running statistics to those of ``inputs`` (one train-mode forward)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: after one batch, exactly its statistics
    model.train()
    with torch.no_grad():
        model(inputs, mode="tensor")


@pytest.mark.parametrize("family", FAMILIES)
def test_topdown_family_overfits_eight_people(posekit_configs: Any, shared: Path, family: str) -> None:
    cfg, codec, steps, lr = FAMILIES[family]
    torch.manual_seed(SEED)
    model = build(
        "estimator", {"type": "TopdownPoseEstimator", "data_preprocessor": posekit_configs.IMAGENET_PREPROCESSOR, **cfg}
    )
    batch = model.data_preprocessor(_batch(shared, codec), training=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    model.train()
    losses = []
    for _ in range(steps):
        outputs = model(batch.inputs, batch, mode="loss")
        loss = sum(value for key, value in outputs.items() if key.startswith("loss"))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all(), f"{family}: non-finite loss during training: {losses}"
    first, last = losses[0], float(np.mean(losses[-5:]))
    assert last * LOSS_DROP <= first, (
        f"{family}: the loss fell only from {first:.4g} to {last:.4g} ({first / last:.1f}x) in {steps} Adam steps "
        f"at lr {lr}; expected at least {LOSS_DROP:g}x"
    )

    _precise_bn(model, batch.inputs)
    model.eval()
    with torch.no_grad():
        results = model(batch.inputs, batch, mode="predict")
    metric = build("metric", {"type": "PCKAccuracy", "thr": 0.05, "norm_item": "bbox"})
    metric.process(results)
    pck = metric.evaluate()["PCK"]
    assert pck > PCK_MIN, (
        f"{family}: PCK@0.05 (bbox) on the {NUM_SAMPLES} training people is {pck:.3f} after {steps} steps "
        f"(loss {first:.4g} -> {last:.4g}); expected > {PCK_MIN}"
    )
