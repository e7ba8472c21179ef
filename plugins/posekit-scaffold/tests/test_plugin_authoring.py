"""The plugin author's path, as an outside author meets it: scaffold or template -> pip install
-> the plugin's own tests -> ``posekit plugins`` -> ``posekit train`` -> uninstall."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from posekit_scaffold import write_plugin

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "examples" / "plugin-template"
KINDS = ("backbone", "head", "codec", "estimator")


def names(prefix: str) -> dict[str, str]:
    return {f"{prefix}{kind.capitalize()}": kind for kind in KINDS}


def run(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def posekit(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "posekit", *args, check=check)


def listed(dist: str) -> dict[str, str]:
    data = json.loads(posekit("plugins", "--json").stdout)
    return {c["name"]: c["kind"] for c in data["components"] if c["dist"] == dist}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    posekit("data", "synth", "--out", str(out), "--num-train", "8", "--num-val", "4", "--size", "128x128")
    return out


def test_template_is_the_scaffold_output(tmp_path: Path) -> None:
    generated = write_plugin("yourmodel", tmp_path / "gen", ("backbone", "head", "codec", "estimator"))
    ignore = {"__pycache__", ".pytest_cache"}
    files = sorted(p.relative_to(TEMPLATE) for p in TEMPLATE.rglob("*") if p.is_file() and not ignore & set(p.parts))
    files = [f for f in files if not any(part.endswith(".egg-info") for part in f.parts)]
    assert files == sorted(p.relative_to(generated) for p in generated.rglob("*") if p.is_file())
    for rel in files:
        assert (generated / rel).read_text() == (TEMPLATE / rel).read_text(), (
            f"examples/plugin-template/{rel} differs from `posekit new-plugin yourmodel` output; regenerate it"
        )


def test_scaffold_subset_has_only_what_was_asked(tmp_path: Path) -> None:
    root = write_plugin("tiny head", tmp_path / "p", ("head",))
    assert (root / "src" / "posekit_tiny_head" / "head.py").is_file()
    assert not (root / "src" / "posekit_tiny_head" / "backbone.py").exists()
    pyproject = (root / "pyproject.toml").read_text()
    assert 'name = "posekit-tiny-head"' in pyproject
    assert 'TinyHeadHead = "posekit_tiny_head.head:TinyHeadHead"' in pyproject and "posekit.backbones" not in pyproject
    # its config trains the head on installed parts, whose distributions it depends on
    assert '"posekit-resnet>=0.1"' in pyproject and '"posekit-heatmap>=0.1"' in pyproject
    assert "type: ResNet" in (root / "configs" / "train.yaml").read_text()
    with pytest.raises(FileExistsError):
        write_plugin("tiny head", tmp_path / "p", ("head",))


def test_two_scaffolds_have_distinct_names(tmp_path: Path) -> None:
    a = write_plugin("hand", tmp_path / "a", KINDS)
    b = write_plugin("posekit-face-2d", tmp_path / "b", KINDS)
    assert (a / "tests" / "test_hand.py").is_file() and (b / "tests" / "test_face_2d.py").is_file()
    text_a, text_b = (a / "pyproject.toml").read_text(), (b / "pyproject.toml").read_text()
    assert 'HandHead = "posekit_hand.head:HandHead"' in text_a
    assert 'Face2dHead = "posekit_face_2d.head:Face2dHead"' in text_b and "Hand" not in text_b


def test_new_plugin_on_an_existing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    posekit("new-plugin", "again", "--out", str(tmp_path / "p"))
    proc = posekit("new-plugin", "again", "--out", str(tmp_path / "p"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"posekit new-plugin: error: {tmp_path / 'p'} already exists and is not empty; nothing was written "
        "(choose another --out)"
    ]


def test_every_scaffold_variant_tests_and_trains(tmp_path: Path, synth: Path) -> None:
    roots = {kind: write_plugin(f"only-{kind}", tmp_path / kind, (kind,)) for kind in KINDS}
    run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", *map(str, roots.values()))
    try:
        run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(str(r / "tests") for r in roots.values()))
        for kind, root in roots.items():
            work = tmp_path / f"work-{kind}"
            posekit(
                "train", str(root / "configs" / "train.yaml"), "--work-dir", str(work),
                "--set", f"data.train.dataset.data_root={synth}", "--set", f"data.val.dataset.data_root={synth}",
                "--set", f"evaluator.0.ann_file={synth}/annotations/person_keypoints_val2017.json",
                "--set", "train.max_iters=2", "--set", "train.progress=false",
            )  # fmt: skip
            assert list(work.glob("*.pth")), f"the --{kind} scaffold's config wrote no checkpoint"
    finally:
        run(sys.executable, "-m", "pip", "uninstall", "-y", "-q", *(f"posekit-only-{kind}" for kind in KINDS))


@pytest.mark.parametrize("source", ["scaffold", "template"])
def test_install_test_train_uninstall(source: str, tmp_path: Path, synth: Path) -> None:
    if source == "scaffold":
        posekit("new-plugin", "authored", "--out", str(tmp_path / "plugin"))
        dist, expected = "posekit-authored", names("Authored")
    else:
        shutil.copytree(TEMPLATE, tmp_path / "plugin", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
        dist, expected = "posekit-yourmodel", names("Yourmodel")
    root = tmp_path / "plugin"
    run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(root))
    try:
        run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests"), cwd=root)
        assert listed(dist) == expected
        cfg = root / "configs" / "train.yaml"
        posekit(
            "train", str(cfg), "--work-dir", str(tmp_path / "work"),
            "--set", f"data.train.dataset.data_root={synth}", "--set", f"data.val.dataset.data_root={synth}",
            "--set", f"evaluator.0.ann_file={synth}/annotations/person_keypoints_val2017.json",
            "--set", "train.max_iters=2", "--set", "train.progress=false",
        )  # fmt: skip
        assert list((tmp_path / "work").glob("*.pth")), "training wrote no checkpoint"
    finally:
        run(sys.executable, "-m", "pip", "uninstall", "-y", "-q", dist)
    assert listed(dist) == {}
    failed = posekit("config", "check", str(cfg), check=False)
    assert failed.returncode == 2
    estimator = next(name for name, kind in expected.items() if kind == "estimator")
    assert f"unknown estimator '{estimator}'" in failed.stderr and "TopdownPoseEstimator" in failed.stderr
