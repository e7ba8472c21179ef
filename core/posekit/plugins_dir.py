"""A folder of one-off research code used as a plugin, without packaging (as datasette's ``--plugins-dir``).

``posekit --plugins-dir DIR COMMAND ...`` or ``POSEKIT_PLUGINS_DIR=DIR`` imports every
``DIR/*.py`` (not ``_*.py``) when the registry is first read. A file registers:

- components, with a module-level mapping from kind to classes, each registered under its
  class name::

      POSEKIT_COMPONENTS = {"head": [MyHead], "codec": [MyCodec]}

- hooks: a file holding ``@posekit.hookimpl`` functions is a hook plugin named after the
  file (``DIR/myhook.py`` -> ``myhook``, config section ``hooks.myhook``).

Its components are listed under the distribution ``plugins-dir`` with the folder as the
version. Only that explicit user action loads the folder: a config or a checkpoint never
names code to import.
"""

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


def _is_hook_module(module: Any) -> bool:
    return any(hasattr(getattr(module, n, None), "posekit_impl") for n in dir(module) if not n.startswith("_"))


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
        if _is_hook_module(module):
            found.append(Entry("hook", path.stem, module_name, DIST, version))
    return found, problems
