"""``posekit new-plugin``: write a ready-to-install plugin distribution from templates.

The templates under ``templates/`` are the single source of the plugin layout; the
repository's ``examples/plugin-template`` is this scaffold's output with every component.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

#: component flag -> (entry-point group, class name, module, conformance test body)
COMPONENTS: dict[str, tuple[str, str, str, str]] = {
    "backbone": (
        "posekit.backbones",
        "YourNewBackbone",
        "backbone",
        """

def test_backbone(posekit_check) -> None:
    posekit_check.backbone({"type": "YourNewBackbone", "base_channels": 8}, input_shape=(2, 3, 64, 48))
""",
    ),
    "head": (
        "posekit.heads",
        "YourNewHead",
        "head",
        """

HEAD = {
    "type": "YourNewHead",
    "in_channels": 32,
    "out_channels": 17,
    "decoder": {"type": "MSRAHeatmap", "input_size": [48, 64], "heatmap_size": [12, 16], "sigma": 2.0},
}


def test_head(posekit_check) -> None:
    posekit_check.head(HEAD, feat_shapes=[(32, 8, 6)])
""",
    ),
    "codec": (
        "posekit.codecs",
        "YourNewCodec",
        "codec",
        """

def test_codec(posekit_check) -> None:
    posekit_check.codec({"type": "YourNewCodec", "input_size": [192, 256]}, tol=1e-3)
""",
    ),
    "estimator": (
        "posekit.estimators",
        "YourNewEstimator",
        "estimator",
        """

def test_estimator(posekit_check) -> None:
    from posekit.testing import random_topdown_batch

    cfg = {
        "type": "YourNewEstimator",
        "backbone": $estimator_backbone,
        "head": {
            $estimator_head,
            "out_channels": 17,
            "decoder": {"type": "MSRAHeatmap", "input_size": [64, 64], "heatmap_size": [8, 8], "sigma": 1.0},
        },
        "test_cfg": {"flip_test": True},
    }
    codec = posekit.build("codec", cfg["head"]["decoder"])
    posekit_check.estimator(cfg, random_topdown_batch(codec, batch_size=2))
""",
    ),
}


def _template(name: str) -> Template:
    return Template(resources.files("posekit.scaffold").joinpath("templates", name).read_text(encoding="utf-8"))


def normalize_name(name: str) -> tuple[str, str]:
    """``"YourModel"`` / ``"posekit-yourmodel"`` -> (``"posekit-yourmodel"``, ``"posekit_yourmodel"``)."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not base:
        raise ValueError(f"plugin name {name!r} has no letters or digits")
    dist = base if base.startswith("posekit-") else f"posekit-{base}"
    return dist, dist.replace("-", "_")


#: what the estimator's test builds on: the plugin's own parts when it has them, else installed ones
_OWN_PARTS = {
    "estimator_backbone": '{"type": "YourNewBackbone", "base_channels": 8}',  # 32 channels at stride 16
    "estimator_head": '"type": "YourNewHead",\n            "in_channels": 32,\n            "num_upsample": 1',
}
_CORE_PARTS = {
    "estimator_backbone": '{"type": "ResNet", "depth": 18, "base_channels": 8, "stem_channels": 8, "out_indices": [1]}',
    "estimator_head": '"type": "HeatmapHead",\n            "in_channels": 16,\n            "deconv_out_channels": None',
}


def write_plugin(name: str, out_dir: Path, components: tuple[str, ...]) -> Path:
    """Write plugin ``name`` with ``components`` (keys of :data:`COMPONENTS`) under ``out_dir``.

    With a backbone, a head and an estimator, it also writes ``configs/train.yaml``, a
    config that trains them on posekit's synthetic data. Returns the plugin's root
    folder; refuses to overwrite a non-empty folder.
    """
    unknown = set(components) - set(COMPONENTS)
    if unknown or not components:
        raise ValueError(f"components must be a non-empty subset of {sorted(COMPONENTS)}, got {sorted(components)}")
    dist, pkg = normalize_name(name)
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not empty; choose another --out")
    chosen = [c for c in COMPONENTS if c in components]
    groups: dict[str, list[str]] = {}
    for c in chosen:
        group, cls, module, _ = COMPONENTS[c]
        groups.setdefault(group, []).append(f'{cls} = "{pkg}.{module}:{cls}"')
    entry_points = "".join(f'\n[project.entry-points."{g}"]\n' + "\n".join(lines) + "\n" for g, lines in groups.items())
    names = ", ".join(COMPONENTS[c][1] for c in chosen)
    listing = "\n".join(
        f"- `{COMPONENTS[c][1]}` ({COMPONENTS[c][0]}): `src/{pkg}/{COMPONENTS[c][2]}.py`" for c in chosen
    )
    trains = {"backbone", "head", "estimator"} <= set(chosen)
    train = (
        "\nTrain with it (two iterations on posekit's synthetic data):\n\n```bash\n"
        "posekit data synth --out data/synth --num-train 64 --num-val 16\n"
        "posekit train configs/train.yaml --set train.max_iters=2\n```\n"
        if trains
        else ""
    )
    subst = {"dist": dist, "pkg": pkg, "components": names, "entry_points": entry_points}
    parts = _OWN_PARTS if {"backbone", "head"} <= set(chosen) else _CORE_PARTS
    files = {
        "pyproject.toml": _template("pyproject.toml.tmpl").substitute(subst),
        "README.md": _template("README.md.tmpl").substitute(subst, train_section=train, component_list=listing),
        f"src/{pkg}/__init__.py": _template("__init__.py.tmpl").substitute(subst),
        f"src/{pkg}/py.typed": "",
        "tests/test_plugin.py": _template("test_plugin.py.tmpl").substitute(
            subst, tests=Template("".join(COMPONENTS[c][3] for c in chosen)).substitute(parts)
        ),
    }
    for c in chosen:
        files[f"src/{pkg}/{COMPONENTS[c][2]}.py"] = _template(f"{COMPONENTS[c][2]}.py.tmpl").template
    if trains:
        files["configs/train.yaml"] = _template("train.yaml.tmpl").substitute(subst)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
