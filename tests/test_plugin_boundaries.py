"""Plugins meet only through the registry: no plugin's code imports another plugin's package, and a
plugin's tests import another distribution (the conformance kit ``posekit-testing``, the converter
``posekit-mmpose``) only when its pyproject declares it, in ``dependencies`` or the ``test`` extra.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p.parent for p in REPO.glob("plugins/*/pyproject.toml"))


def imported_packages(folder: Path) -> dict[str, list[str]]:
    """``{posekit_* package: ["file:line", ...]}`` for every import statement under ``folder``."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top.startswith("posekit_"):
                    found.setdefault(top, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def declared(plugin: Path) -> tuple[str, set[str]]:
    """(its own package, the packages of the distributions it declares for its code and tests)."""
    project = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    specs = project.get("dependencies", []) + project.get("optional-dependencies", {}).get("test", [])
    return project["name"].replace("-", "_"), {Requirement(spec).name.replace("-", "_") for spec in specs}


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_plugin_code_imports_no_other_plugin(plugin: Path) -> None:
    own, _ = declared(plugin)
    foreign = {pkg: where for pkg, where in imported_packages(plugin / "src").items() if pkg != own}
    assert not foreign, f"{plugin.name} imports other plugins (they meet through the registry): {foreign}"


@pytest.mark.parametrize("plugin", [p for p in PLUGINS if (p / "tests").is_dir()], ids=lambda p: p.name)
def test_plugin_tests_import_only_what_the_plugin_declares(plugin: Path) -> None:
    own, deps = declared(plugin)
    used = imported_packages(plugin / "tests")
    if any("posekit_check" in path.read_text(encoding="utf-8") for path in (plugin / "tests").rglob("*.py")):
        used.setdefault("posekit_testing", []).append("the posekit_check fixture")
    undeclared = {pkg: where for pkg, where in used.items() if pkg != own and pkg not in deps}
    assert not undeclared, (
        f"{plugin.name}'s tests use distributions its pyproject.toml does not declare "
        f"(add them to [project.optional-dependencies] test): {undeclared}"
    )
