"""Plugins meet only through the registry: no plugin's code or tests import another plugin's package. A
plugin's tests reach the conformance kit ``posekit-testing`` only through its pytest plugin (entry point
``pytest11`` ``posekit``: fixtures and markers), and then declare it in ``dependencies`` or the ``test`` extra.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

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


def kit_names(kit_plugin: ModuleType) -> tuple[set[str], set[str]]:
    """(the fixtures, the markers) that the kit's pytest plugin module defines, read from its source."""
    tree = ast.parse(Path(kit_plugin.__file__ or "").read_text(encoding="utf-8"))
    fixtures = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list)
    }
    markers = {
        call.args[1].value.partition("(")[0].partition(":")[0]
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and ast.unparse(call.func).endswith("addinivalue_line")
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value == "markers"
        and isinstance(call.args[1], ast.Constant)
    }
    return fixtures, markers


@pytest.fixture(scope="module")
def kit(pytestconfig: pytest.Config) -> tuple[set[str], set[str]]:
    """The kit's fixtures and markers, from its pytest plugin as pytest loaded it (nothing imported here)."""
    plugin = pytestconfig.pluginmanager.get_plugin("posekit")
    assert isinstance(plugin, ModuleType), "the conformance kit's pytest plugin (pytest11 'posekit') is not loaded"
    fixtures, markers = kit_names(plugin)
    assert {"posekit_check", "shared"} <= fixtures and "mmpose_configs" in markers, (fixtures, markers)
    return fixtures, markers


def kit_uses(folder: Path, fixtures: set[str], markers: set[str]) -> list[str]:
    """``["file:line name", ...]``: the kit's fixtures requested and markers applied under ``folder`` (a fixture
    the folder defines itself is its own)."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in sorted(folder.rglob("*.py"))}
    functions = [(p, n) for p, t in trees.items() for n in ast.walk(t) if isinstance(n, ast.FunctionDef)]
    own = {n.name for _, n in functions if any("fixture" in ast.unparse(d) for d in n.decorator_list)}
    found = [
        f"{path.relative_to(REPO)}:{node.lineno} {arg.arg}"
        for path, node in functions
        for arg in node.args.args
        if arg.arg in fixtures - own
    ]
    for path, tree in trees.items():
        for node in ast.walk(tree):
            mark = node.value if isinstance(node, ast.Attribute) else None
            if mark is not None and node.attr in markers and ast.unparse(mark).endswith("mark"):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} mark.{node.attr}")
    return found


@pytest.mark.parametrize("plugin", [p for p in PLUGINS if (p / "tests").is_dir()], ids=lambda p: p.name)
def test_plugin_tests_import_no_other_plugin(plugin: Path) -> None:
    own, _ = declared(plugin)
    foreign = {pkg: where for pkg, where in imported_packages(plugin / "tests").items() if pkg != own}
    assert not foreign, (
        f"{plugin.name}'s tests import other plugins; they reach the conformance kit through its pytest fixtures "
        f"and markers, and other plugins through the registry (posekit.registry.build, the posekit CLI): {foreign}"
    )


@pytest.mark.parametrize("plugin", [p for p in PLUGINS if (p / "tests").is_dir()], ids=lambda p: p.name)
def test_plugin_tests_declare_the_kit_they_use(plugin: Path, kit: tuple[set[str], set[str]]) -> None:
    own, deps = declared(plugin)
    uses = [] if own == "posekit_testing" else kit_uses(plugin / "tests", *kit)
    assert not uses or "posekit_testing" in deps, (
        f"{plugin.name}'s tests use the conformance kit's fixtures or markers but its pyproject.toml does not "
        f"declare posekit-testing (add it to [project.optional-dependencies] test): {uses[:5]}"
    )
