"""Throw-away distributions: real ``*.dist-info`` folders on a temporary ``sys.path`` entry.

Used by tests of the registry's error paths (a broken plugin, a duplicate name, an
incompatible core requirement) without installing anything.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "on_path",
    "write_dist",
]


def write_dist(
    root: Path,
    name: str,
    entry_points: Mapping[str, Mapping[str, str]],
    modules: Mapping[str, str] = {},
    version: str = "0.1.0",
    requires: Sequence[str] = (),
) -> Path:
    """Write distribution ``name`` (its metadata, entry points and modules) under ``root``.

    Args:
        root: a folder that will be put on ``sys.path``.
        name: distribution name, e.g. ``"posekit-broken"``.
        entry_points: ``{group: {entry name: "module:attr"}}``.
        modules: ``{"module_name": source}`` written as ``root/module_name.py``.
        version: the distribution's version.
        requires: ``Requires-Dist`` lines, e.g. ``("posekit>=9",)``.
    """
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    meta = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    eps = "".join(
        f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) + "\n" for g, items in entry_points.items()
    )
    (info / "entry_points.txt").write_text(eps)
    for mod, src in modules.items():
        (root / f"{mod}.py").write_text(textwrap.dedent(src))
    return info


@contextmanager
def on_path(root: Path) -> Iterator[Path]:
    """Put ``root`` first on ``sys.path`` and refresh the registry; undo both afterwards."""
    from posekit.registry import refresh

    sys.path.insert(0, str(root))
    refresh()
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for mod in [m for m, v in sys.modules.items() if str(root) in str(getattr(v, "__file__", "") or "")]:
            del sys.modules[mod]
        refresh()
