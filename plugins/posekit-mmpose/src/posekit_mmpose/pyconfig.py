"""MMPose ``.py`` configs read as data: a restricted subset of Python evaluated with :mod:`ast`.

Nothing in a config file is executed. :func:`read_config` returns the file's top-level names
(after its ``_base_`` files) as plain values, following MMEngine's rules:

- ``_base_ = [...]`` (old style): each base is read on its own; the file's dicts are merged
  into the bases' (recursively, lists replaced), ``_delete_=True`` replaces instead of merging,
  and ``{{_base_.a.b}}`` or ``_base_.a.b`` reads a base value.
- ``with read_base(): from .x import *`` (new style): the base file's names are bound as if
  imported; later statements rebind or ``update`` them as Python would. Any other
  ``from module import Name`` binds ``Name`` to the string ``"Name"`` (a component's type).

The expressions and statements evaluated are :mod:`posekit_mmpose.evaluator`'s; a file is at
most :data:`MAX_FILE_BYTES`, a ``_base_`` chain at most :data:`MAX_BASE_DEPTH` deep.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from posekit.errors import ConfigError
from posekit_mmpose.evaluator import Evaluator

#: the largest config file read, in bytes
MAX_FILE_BYTES = 1_000_000
#: the deepest ``_base_`` chain
MAX_BASE_DEPTH = 16

_BASE_REF = re.compile(r"""(['"]?)\{\{\s*_base_\.([\w.]+)\s*\}\}\1""")
_DELETE = "_delete_"


def merge(base: Any, child: Any) -> Any:
    """MMEngine's merge of ``child`` into ``base``: dicts recursively, anything else replaced.

    A child dict with ``_delete_=True`` replaces the base's value instead of merging into it.
    """
    if not isinstance(child, dict):
        return child
    if child.get(_DELETE) or not isinstance(base, dict):
        return {k: merge(None, v) for k, v in child.items() if k != _DELETE}
    out = dict(base)
    for key, value in child.items():
        if key != _DELETE:
            out[key] = merge(base.get(key), value)
    return out


def _strip_delete(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_delete(v) for k, v in value.items() if k != _DELETE}
    if isinstance(value, list):
        return [_strip_delete(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_strip_delete(v) for v in value)
    return value


def _configs_root(path: Path) -> Path | None:
    """The folder holding ``_base_/`` (MMPose's ``configs/``) above ``path``."""
    for parent in path.parents:
        if (parent / "_base_").is_dir():
            return parent
    return None


def _base_path(spec: str, path: Path, source: str) -> Path:
    """The file a ``_base_`` entry names: relative to ``path``'s folder, or ``mmpose::x`` under the root."""
    if "::" in spec:
        scope, _, rel = spec.partition("::")
        root = _configs_root(path)
        if scope != "mmpose" or root is None:
            raise ConfigError(f"{source}: _base_ {spec!r}: only 'mmpose::' bases inside an MMPose configs/ tree")
        return root / rel
    return (path.parent / spec).resolve()


def _module_path(module: str | None, level: int, path: Path, source: str) -> Path:
    """The file of a ``read_base()`` import (``.x``, ``..x.y`` or ``mmpose.configs.x.y``)."""
    parts = (module or "").split(".") if module else []
    if level:
        folder = path.parent
        for _ in range(level - 1):
            folder = folder.parent
        return folder.joinpath(*parts).with_suffix(".py")
    if parts[:2] == ["mmpose", "configs"]:
        root = _configs_root(path)
        if root is not None:
            return root.joinpath(*parts[2:]).with_suffix(".py")
    raise ConfigError(f"{source}: read_base() import of {module!r}: expected a relative or mmpose.configs module")


def _read_text(path: Path, source: str) -> str:
    if not path.is_file():
        raise ConfigError(f"{source}: MMPose config file {path} not found")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{source}: {path} is larger than {MAX_FILE_BYTES} bytes; not an MMPose config")
    return path.read_text(encoding="utf-8")


def read_config(path: str | Path, _depth: int = 0, _source: str | None = None) -> dict[str, Any]:
    """The top-level names of an MMPose ``.py`` config, its ``_base_`` files merged in.

    Args:
        path: the config file.

    Returns:
        ``{name: value}`` of plain dicts, lists, tuples, strings and numbers, ``_delete_``
        markers applied; names starting with ``_`` (``_base_``) are left out.

    Raises:
        ConfigError: a construct outside the evaluated subset, a missing base, a result too
            large; the message names the file and line.
    """
    path = Path(path)
    source = str(path)
    if _depth > MAX_BASE_DEPTH:
        raise ConfigError(f"{_source}: _base_ chain deeper than {MAX_BASE_DEPTH} (a cycle?) at {path}")
    text = _BASE_REF.sub(lambda m: f"__base_ref__({m.group(2)!r})", _read_text(path, _source or source))
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as e:
        raise ConfigError(f"{source}:{e.lineno}: not valid Python: {e.msg}") from e
    scope: dict[str, Any] = {}
    body: list[ast.stmt] = []
    for stmt in tree.body:  # new style: `with read_base(): from .x import *` binds the base file's names
        if isinstance(stmt, ast.With) and ast.unparse(stmt.items[0].context_expr) == "read_base()":
            for inner in stmt.body:
                if not isinstance(inner, ast.ImportFrom):
                    raise ConfigError(f"{source}:{inner.lineno}: only 'from ... import' inside read_base()")
                names = read_config(_module_path(inner.module, inner.level, path, source), _depth + 1, source)
                for alias in inner.names:
                    if alias.name == "*":
                        scope.update(names)
                    elif alias.name in names:
                        scope[alias.asname or alias.name] = names[alias.name]
                    else:
                        raise ConfigError(f"{source}:{inner.lineno}: the base file has no {alias.name!r}")
        elif isinstance(stmt, ast.ImportFrom) and stmt.module == "mmengine.config":
            continue
        else:
            body.append(stmt)
    bases: dict[str, Any] = {}
    base_stmt = next((s for s in body if isinstance(s, ast.Assign) and _names(s) == ["_base_"]), None)
    if base_stmt is not None:
        spec = Evaluator(source, {}).eval(base_stmt.value, {})
        specs = [spec] if isinstance(spec, str) else spec
        if not isinstance(specs, (list, tuple)) or not all(isinstance(s, str) for s in specs):
            raise ConfigError(f"{source}:{base_stmt.lineno}: _base_ must be a file name or a list of them")
        for spec in specs:
            names = read_config(_base_path(spec, path, source), _depth + 1, source)
            for key in names.keys() & bases.keys():
                raise ConfigError(f"{source}: {key!r} is set by more than one _base_ file")
            bases.update(names)
        body = [s for s in body if s is not base_stmt]
    # old style: the file sees its bases' names, and the dicts it assigns merge into theirs
    evaluator = Evaluator(source, {**bases, **scope, "_base_": bases})  # `_base_.x` reads a base value
    evaluator.run(body)
    out = {**bases, **scope}
    for key in evaluator.assigned:
        value = evaluator.scope[key]
        out[key] = merge(bases[key], value) if key in bases and key not in scope else value
    return {k: _strip_delete(v) for k, v in out.items() if not k.startswith("_")}


def _names(stmt: ast.Assign) -> list[str]:
    return [t.id for t in stmt.targets if isinstance(t, ast.Name)]
