"""pytest plugin (``pytest11`` entry point ``posekit``): the kit's fixtures and marker for test suites.

Tests reach the kit only through these, never by importing ``posekit_testing``: fixtures for what runs
inside a test, the ``mmpose_configs`` marker for what parametrizes one at collection time.
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace

import pytest


def _bundle(module_name: str) -> SimpleNamespace:
    """The public names (``__all__``) of the kit's module ``posekit_testing.<module_name>``."""
    module = import_module(f"posekit_testing.{module_name}")
    return SimpleNamespace(**{name: getattr(module, name) for name in module.__all__})


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--posekit-shared DIR``: the reference folder (default: ``$POSEKIT_SHARED``, else ``shared/`` found
    beside the repository)."""
    parser.addoption("--posekit-shared", type=Path, default=None, help="the shared/ reference folder of posekit")


def pytest_configure(config: pytest.Config) -> None:
    """Register the kit's marker (so ``--strict-markers`` accepts it) and resolve the shared folder once:
    ``config.getoption("posekit_shared")`` is then the folder, or None when there is none (collection-time
    code reads it there; tests use the ``shared`` fixture)."""
    from posekit_testing.conformance import shared_dir

    config.addinivalue_line(
        "markers",
        "mmpose_configs(*needles, under=''): parametrize the argument `mmpose_config` with MMPose's configs "
        "under shared/mmpose-configs/<under> whose text holds any of needles (ids: the files' stems)",
    )
    given = config.getoption("posekit_shared")
    if given is not None:  # what every kit function reads
        os.environ["POSEKIT_SHARED"] = str(given)
    config.option.posekit_shared = shared_dir()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.mmpose_configs(...)``: one test per config path, in the argument ``mmpose_config``;
    one skipped test saying why when ``shared/`` is absent; a collection error when it is present and no
    config matches (a misspelt needle must not pass as an empty suite)."""
    marker = metafunc.definition.get_closest_marker("mmpose_configs")
    if marker is None:
        return
    if metafunc.config.getoption("posekit_shared") is None:
        reason = "MMPose's configs are in shared/mmpose-configs and there is no shared/ here (--posekit-shared DIR)"
        metafunc.parametrize(
            "mmpose_config", [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-shared")]
        )
        return
    from posekit_testing.configs import mmpose_configs

    paths = mmpose_configs(*marker.args, **marker.kwargs)
    if not paths:
        under = marker.kwargs.get("under", "")
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: no config under shared/mmpose-configs/{under} holds any of {marker.args}"
        )
    metafunc.parametrize("mmpose_config", paths, ids=[p.stem for p in paths])


@pytest.fixture(scope="session")
def posekit_check() -> SimpleNamespace:
    """The conformance checks: ``posekit_check.codec(cfg)``, ``.backbone(cfg)``, ``.head(cfg, ...)``, ...,
    ``.component(kind, name)``, and what they build on: ``.example_config(kind, name)``,
    ``.random_topdown_batch(codec, ...)``."""
    from posekit_testing import conformance as c

    return SimpleNamespace(
        backbone=c.check_backbone,
        neck=c.check_neck,
        head=c.check_head,
        codec=c.check_codec,
        loss=c.check_loss,
        estimator=c.check_estimator,
        train_then_infer=c.check_train_then_infer,
        component=c.check_component,
        example_config=c.example_config,
        random_topdown_batch=c.random_topdown_batch,
    )


@pytest.fixture(scope="session")
def posekit_reference() -> SimpleNamespace:
    """Comparisons with MMPose's reference numbers: ``posekit_reference.assert_backbone_matches_mmpose(folder)``,
    ``.assert_head_matches_mmpose``, ``.assert_encode_matches``, ``.assert_same``, ``.assert_close_to_max``, ..."""
    return _bundle("reference")


@pytest.fixture(scope="session")
def posekit_configs() -> SimpleNamespace:
    """Experiment pieces: ``posekit_configs.IMAGENET_PREPROCESSOR``, ``.topdown_pipeline()``, ``.heatmap_model``,
    ``.mmpose_configs(...)``, ``.convert_and_check(source, out_dir)``, ..."""
    return _bundle("configs")


@pytest.fixture(scope="session")
def posekit_samples() -> SimpleNamespace:
    """Dotted COCO-17 samples for transform tests: ``posekit_samples.dotted_sample()``, ``.assert_dots_follow``,
    ``.assert_seeded(transform)``, ``.coco_sample(shared, img_id)``, ..."""
    return _bundle("samples")


@pytest.fixture(scope="session")
def posekit_dists() -> SimpleNamespace:
    """Throw-away distributions: ``posekit_dists.write_dist(root, name, entry_points)``, ``.on_path(root)``."""
    return _bundle("dists")


@pytest.fixture(scope="session")
def shared(pytestconfig: pytest.Config) -> Path:
    """The ``shared/`` folder of reference fixtures and sample data (skips when absent)."""
    path: Path | None = pytestconfig.getoption("posekit_shared")
    if path is None:
        pytest.skip(
            "reference folder ../shared not found beside the repository (a user's clone); "
            "set POSEKIT_SHARED=/path/to/shared or pass --posekit-shared to run the reference tests"
        )
    return path
