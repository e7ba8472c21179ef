"""The core never names a shipped plugin's component: no class name in its code, its strings or its imports.

The names are those the shipped plugin distributions (``plugins/*/pyproject.toml``) register
through their installed entry points. Docstrings and comments may mention them: they document
examples. Code names, attribute names, imported names and string literals may not, a component's
``example_config`` (the small instance ``posekit plugins --check`` builds) included: a core component
whose example needs another component picks an installed one through the registry.
"""

from __future__ import annotations

import ast
import re
from importlib.metadata import distribution
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "core" / "posekit"


def shipped_component_names() -> dict[str, str]:
    """``{class name: distribution}`` of every component the shipped plugins register."""
    names: dict[str, str] = {}
    for pyproject in sorted(REPO.glob("plugins/*/pyproject.toml")):
        dist = tomllib.loads(pyproject.read_text())["project"]["name"]
        for ep in distribution(dist).entry_points:
            if ep.group.startswith("posekit.") and ep.group != "posekit.hooks" and ep.attr:
                names[ep.attr.rpartition(".")[2]] = dist
    return names


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (first statement of a module, class or function)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def named_in(path: Path, pattern: re.Pattern[str]) -> list[str]:
    """``line: name`` for each code name, attribute, import or string literal of ``path`` matching ``pattern``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        texts: list[str] = []
        if isinstance(node, ast.Name):
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            texts = [a.name for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            texts = [node.value]
        for text in texts:
            hits += [f"{node.lineno}: {m}" for m in pattern.findall(text)]
    return hits


def test_the_plugins_register_components() -> None:
    names = shipped_component_names()
    assert {"HeatmapHead", "UDPHeatmap", "BottomupPoseEstimator", "PoseLifter"} <= set(names), sorted(names)


def test_core_names_no_shipped_plugin_component() -> None:
    names = shipped_component_names()
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")\b")
    offences = {
        str(path.relative_to(REPO)): hits for path in sorted(CORE.rglob("*.py")) if (hits := named_in(path, pattern))
    }
    report = "\n".join(
        f"  {file} line {hit} (from {names[hit.split(': ')[1]]})" for file, hits in offences.items() for hit in hits
    )
    assert not offences, f"the core names shipped plugins' components:\n{report}"


def test_the_check_sees_code_strings_and_examples_but_not_docstrings(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        '"""HeatmapHead in a docstring."""\n# HeatmapHead in a comment\nx = "UDPHeatmap"\ny.PoseLifter\n'
        'example_config = {"head": {"type": "HeatmapHead"}}\n'
    )
    assert named_in(source, re.compile(r"\b(HeatmapHead|UDPHeatmap|PoseLifter)\b")) == [
        "3: UDPHeatmap",
        "4: PoseLifter",
        "5: HeatmapHead",
    ]
