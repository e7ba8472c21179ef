"""The kit's pytest plugin: its fixtures hold their modules' public names, and the ``mmpose_configs`` marker
parametrizes a test by the configs found under ``--posekit-shared`` (registered, so ``--strict-markers`` runs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

from posekit_testing import configs, dists, reference, samples


def test_bundles_hold_their_modules_public_names(
    posekit_reference: SimpleNamespace,
    posekit_configs: SimpleNamespace,
    posekit_samples: SimpleNamespace,
    posekit_dists: SimpleNamespace,
) -> None:
    for bundle, module in (
        (posekit_reference, reference),
        (posekit_configs, configs),
        (posekit_samples, samples),
        (posekit_dists, dists),
    ):
        assert vars(bundle) == {name: getattr(module, name) for name in module.__all__}, module.__name__


def test_mmpose_configs_marker(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "fixtures" / "mmpose").mkdir(parents=True)
    folder = shared / "mmpose-configs" / "body"
    folder.mkdir(parents=True)
    (folder / "td-hm_mine.py").write_text("model = dict(backbone=dict(type='Mine'))\n")
    (folder / "td-hm_yours.py").write_text("model = dict(backbone=dict(type='Mine'))\n")
    (folder / "other.py").write_text("model = dict(backbone=dict(type='Other'))\n")
    test_file = tmp_path / "test_configs.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import pytest

            MINE = pytest.mark.mmpose_configs("type='Mine'", under="body")


            @MINE
            def test_config(mmpose_config, posekit_configs, shared):
                assert mmpose_config.parent == shared / "mmpose-configs" / "body"
                assert mmpose_config in posekit_configs.mmpose_configs(*MINE.args, **MINE.kwargs)
            """
        )
    )
    proc = _pytest(tmp_path, f"--posekit-shared={shared}", test_file)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "test_config[td-hm_mine] PASSED" in proc.stdout and "test_config[td-hm_yours] PASSED" in proc.stdout
    assert "2 passed" in proc.stdout

    # a needle no config holds is an error naming the test and the needle, not an empty suite
    test_file.write_text(
        "import pytest\n\n@pytest.mark.mmpose_configs(\"type='Nobody'\")\ndef test_none(mmpose_config):\n    pass\n"
    )
    proc = _pytest(tmp_path, f"--posekit-shared={shared}", test_file)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "test_configs.py::test_none: no config under" in out and "Nobody" in out, out


def _pytest(cwd: Path, *args: object) -> subprocess.CompletedProcess[str]:
    """``pytest -v --strict-markers ARGS`` in a child process, in ``cwd``."""
    argv = [sys.executable, "-m", "pytest", "-v", "--strict-markers", "-p", "no:cacheprovider", *map(str, args)]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
