"""``--plugins-dir DIR`` / ``POSEKIT_PLUGINS_DIR`` (datasette's): every ``DIR/*.py`` (not ``_*.py``) imported,
its ``POSEKIT_COMPONENTS = {"head": [MyHead]}`` registered by class name and a file of ``@hookimpl``
functions registered as the hook named after it, under the distribution ``plugins-dir``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from posekit.errors import PluginLoadError
from posekit.registry import GROUPS, Entry, Problem

DIST = "plugins-dir"
ATTR = "POSEKIT_COMPONENTS"


def _import(path: Path, module_name: str) -> Any:
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def scan_folder(folder: str | Path) -> tuple[list[Entry], list[Problem]]:
    """Import ``folder/*.py`` and return the entries they register and the files that failed."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise PluginLoadError(f"plugins folder {folder} (--plugins-dir / POSEKIT_PLUGINS_DIR) is not a directory")
    version = str(root)
    found: list[Entry] = []
    problems: list[Problem] = []
    for path in sorted(root.glob("*.py")):
        if path.name.startswith("_"):
            continue
        module_name = f"posekit_plugins_dir_{path.stem}"
        try:
            module = sys.modules.get(module_name) or _import(path, module_name)
        except Exception as e:
            problems.append(Problem(DIST, version, "*", path.name, f"{path} failed to import: {type(e).__name__}: {e}"))
            continue
        table = getattr(module, ATTR, {})
        for kind, objs in dict(table).items():
            if kind not in GROUPS:
                why = f"{path}: {ATTR} names unknown kind {kind!r}; kinds are: {', '.join(GROUPS)}"
                problems.append(Problem(DIST, version, str(kind), path.name, why))
                continue
            for obj in objs:
                name = getattr(obj, "__name__", repr(obj))
                found.append(Entry(kind, name, f"{module_name}:{obj.__qualname__}", DIST, version))
        if any(hasattr(getattr(module, n, None), "posekit_impl") for n in dir(module) if not n.startswith("_")):
            found.append(Entry("hook", path.stem, module_name, DIST, version))
    return found, problems
