"""``posekit new-plugin``: write a ready-to-install plugin distribution from templates.

Everything that must be unique per plugin derives from its name, so two scaffolds coexist
in one environment: ``posekit new-plugin hand-pose`` writes distribution ``posekit-hand-pose``,
package ``posekit_hand_pose``, components ``HandPoseBackbone``/``HandPoseHead``/
``HandPoseCodec``/``HandPoseEstimator`` and the test file ``tests/test_hand_pose.py``.
Every variant writes ``configs/train.yaml``, which trains its components together with
installed ones where it lacks a part; the distributions providing those installed parts are
the plugin's declared dependencies.

The templates under ``templates/`` are the single source of the plugin layout; the
repository's ``examples/plugin-template`` is this scaffold's output for ``yourmodel``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

#: component flag -> (entry-point group, class-name suffix)
COMPONENTS: dict[str, tuple[str, str]] = {
    "backbone": ("posekit.backbones", "Backbone"),
    "head": ("posekit.heads", "Head"),
    "codec": ("posekit.codecs", "Codec"),
    "estimator": ("posekit.estimators", "Estimator"),
}

#: one conformance test per component (``$backbone`` etc. are the plugin's class names)
_TESTS: dict[str, str] = {
    "backbone": """

def test_backbone(posekit_check) -> None:
    posekit_check.backbone({"type": "$backbone", "base_channels": 8}, input_shape=(2, 3, 64, 48))
""",
    "head": """

HEAD = {
    "type": "$head",
    "in_channels": 32,
    "out_channels": 17,
    "decoder": {"type": "MSRAHeatmap", "input_size": [48, 64], "heatmap_size": [12, 16], "sigma": 2.0},
}


def test_head(posekit_check) -> None:
    posekit_check.head(HEAD, feat_shapes=[(32, 8, 6)])
""",
    "codec": """

def test_codec(posekit_check) -> None:
    posekit_check.codec({"type": "$codec", "input_size": [192, 256]}, tol=1e-3)
""",
    "estimator": """

def test_estimator(posekit_check) -> None:
    cfg = {**posekit_check.example_config("estimator", "$estimator"), "test_cfg": {"flip_test": True}}
    codec = posekit.build("codec", cfg["head"]["decoder"])
    posekit_check.estimator(cfg, posekit_check.random_topdown_batch(codec, batch_size=2))
""",
}


@dataclass(frozen=True)
class PluginNames:
    """The names a plugin derives from the name its author gives."""

    dist: str  # posekit-hand-pose
    pkg: str  # posekit_hand_pose
    stem: str  # hand_pose (the test file is tests/test_<stem>.py)
    camel: str  # HandPose (component classes are <camel>Backbone, <camel>Head, ...)

    def cls(self, kind: str) -> str:
        return self.camel + COMPONENTS[kind][1]


def plugin_names(name: str) -> PluginNames:
    """``"hand pose"`` / ``"posekit-hand-pose"`` -> dist, package, file stem and class prefix."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-").removeprefix("posekit-")
    if not base or base == "posekit":
        raise ValueError(f"plugin name {name!r} has no letters or digits besides 'posekit'")
    if base[0].isdigit():
        raise ValueError(f"plugin name {name!r} must start with a letter (it names Python classes)")
    parts = base.split("-")
    dist = f"posekit-{base}"
    return PluginNames(dist, dist.replace("-", "_"), "_".join(parts), "".join(p.capitalize() for p in parts))


def _template(name: str) -> Template:
    return Template(resources.files("posekit_scaffold").joinpath("templates", name).read_text(encoding="utf-8"))


def _model_section(n: PluginNames, chosen: set[str]) -> tuple[str, str, list[tuple[str, str]]]:
    """The config's ``model`` block, its target encoder and the installed (kind, name) pairs it uses.

    Own parts are used where the plugin has them; a 64x96 input, 64 channels at stride 16.
    """
    used = [("transform", "TopdownAffine")]  # the config's pipelines crop person boxes (posekit-topdown)
    used += [("estimator", "TopdownPoseEstimator")] if "estimator" not in chosen else [("serving", "TopdownServing")]
    msra = "{type: MSRAHeatmap, input_size: [64, 96], heatmap_size: [16, 24], sigma: 1.5}"
    if "backbone" in chosen:
        backbone = f"{{type: {n.cls('backbone')}, base_channels: 16, num_stages: 3, out_indices: [2]}}"
    else:
        backbone = (
            "{type: ResNet, depth: 18, stem_channels: 16, base_channels: 16, num_stages: 3, strides: [1, 2, 2], "
            "dilations: [1, 1, 1], out_indices: [2]}"
        )
        used.append(("backbone", "ResNet"))
    neck = ""
    if "head" in chosen:
        head = f"type: {n.cls('head')}\n    in_channels: 64\n    out_channels: 17\n    num_upsample: 2"
        encoder = msra
        used.append(("codec", "MSRAHeatmap"))
    elif "codec" in chosen:  # a coordinate codec: regression on pooled features
        neck = "  neck: {type: GlobalAveragePooling}\n"
        encoder = f"{{type: {n.cls('codec')}, input_size: [64, 96]}}"
        head = "type: RegressionHead\n    in_channels: 64\n    num_joints: 17"
        used += [("neck", "GlobalAveragePooling"), ("head", "RegressionHead")]
    else:
        head = (
            "type: HeatmapHead\n    in_channels: 64\n    out_channels: 17\n"
            "    deconv_out_channels: [32, 32]\n    deconv_kernel_sizes: [4, 4]"
        )
        encoder = msra
        used += [("head", "HeatmapHead"), ("codec", "MSRAHeatmap")]
    estimator = n.cls("estimator") if "estimator" in chosen else "TopdownPoseEstimator"
    model = (
        f"model:\n  type: {estimator}\n"
        "  data_preprocessor: {type: PoseDataPreprocessor, mean: [123.675, 116.28, 103.53], "
        "std: [58.395, 57.12, 57.375], bgr_to_rgb: true}\n"
        f"  backbone: {backbone}  # 64 channels at stride 16\n{neck}"
        f"  head:\n    {head}\n    decoder: {encoder}\n"
        "  test_cfg: {flip_test: true}\n"
    )
    return model, encoder, used


#: what the estimator's example_config builds on when the plugin lacks its own backbone or head
_TEST_PARTS = {
    "own_backbone": '{"type": "$backbone", "base_channels": 8}',  # 32 channels at stride 16
    "own_head": '"type": "$head",\n            "in_channels": 32,\n            "num_upsample": 1',
    "core_backbone": (
        '{"type": "ResNet", "depth": 18, "base_channels": 8, "stem_channels": 8, "num_stages": 2, '
        '"strides": [1, 2], "dilations": [1, 1], "out_indices": [1]}'
    ),
    "core_head": '"type": "HeatmapHead",\n            "in_channels": 16,\n            "deconv_out_channels": None',
}


def _tests(n: PluginNames, chosen: list[str]) -> tuple[str, dict[str, str], list[tuple[str, str]]]:
    """The test file's body, the estimator's example parts and the installed (kind, name) pairs they use."""
    used = [("codec", "MSRAHeatmap")] if {"head", "estimator"} & set(chosen) else []
    own_b, own_h = "backbone" in chosen, "head" in chosen
    if "estimator" in chosen:
        used += [] if own_b else [("backbone", "ResNet")]
        used += [] if own_h else [("head", "HeatmapHead")]
    names = {k: n.cls(k) for k in COMPONENTS}
    parts = {
        "example_backbone": Template(_TEST_PARTS["own_backbone" if own_b else "core_backbone"]).substitute(names),
        "example_head": Template(_TEST_PARTS["own_head" if own_h else "core_head"]).substitute(names),
    }
    body = "".join(Template(_TESTS[c]).substitute(names) for c in chosen)
    return body, parts, used


def _dependencies(used: list[tuple[str, str]]) -> str:
    """``"posekit>=0.1,<0.2", "posekit-heatmap>=0.1", ...``: the core and the distributions of ``used``."""
    from posekit.registry import CORE_DIST, resolve

    dists = sorted({(e.dist, e.version) for e in (resolve(k, name) for k, name in used) if e.dist != CORE_DIST})
    deps = ['"posekit>=0.1,<0.2"']
    for dist, version in dists:
        floor = ".".join(version.split(".")[:2])
        deps.append(f'"{dist}>={floor}"')
    return ", ".join(deps)


def write_plugin(name: str, out_dir: Path, components: tuple[str, ...]) -> Path:
    """Write plugin ``name`` with ``components`` (keys of :data:`COMPONENTS`) under ``out_dir``.

    Returns the plugin's root folder. Raises ``FileExistsError`` for a non-empty folder
    (nothing is overwritten) and ``ValueError`` for a bad name or component list.
    """
    unknown = set(components) - set(COMPONENTS)
    if unknown or not components:
        raise ValueError(f"components must be a non-empty subset of {sorted(COMPONENTS)}, got {sorted(components)}")
    n = plugin_names(name)
    root = Path(out_dir)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} already exists and is not empty; nothing was written (choose another --out)")
    chosen = [c for c in COMPONENTS if c in components]
    groups: dict[str, list[str]] = {}
    for c in chosen:
        groups.setdefault(COMPONENTS[c][0], []).append(f'{n.cls(c)} = "{n.pkg}.{c}:{n.cls(c)}"')
    entry_points = "".join(f'\n[project.entry-points."{g}"]\n' + "\n".join(lines) + "\n" for g, lines in groups.items())
    names = ", ".join(n.cls(c) for c in chosen)
    listing = "\n".join(f"- `{n.cls(c)}` ({COMPONENTS[c][0]}): `src/{n.pkg}/{c}.py`" for c in chosen)
    model, encoder, used_by_config = _model_section(n, set(chosen))
    tests, parts, used_by_tests = _tests(n, chosen)
    subst = {
        "dist": n.dist,
        "pkg": n.pkg,
        "stem": n.stem,
        "components": names,
        "entry_points": entry_points,
        "dependencies": _dependencies(used_by_config + used_by_tests),
        **{k: n.cls(k) for k in COMPONENTS},
        **parts,
    }
    files = {
        "pyproject.toml": _template("pyproject.toml.tmpl").substitute(subst),
        "README.md": _template("README.md.tmpl").substitute(subst, component_list=listing),
        f"src/{n.pkg}/__init__.py": _template("__init__.py.tmpl").substitute(subst),
        f"src/{n.pkg}/py.typed": "",
        f"tests/test_{n.stem}.py": _template("test_plugin.py.tmpl").substitute(subst, tests=tests),
        "configs/train.yaml": _template("train.yaml.tmpl").substitute(subst, model=model, encoder=encoder),
    }
    for c in chosen:
        files[f"src/{n.pkg}/{c}.py"] = _template(f"{c}.py.tmpl").substitute(subst)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
