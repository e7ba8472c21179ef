"""Shared test helpers for the core's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def throwaway(posekit_dists: Any, tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Write throw-away distributions into one temporary ``sys.path`` entry."""
    root = tmp_path / "site"
    root.mkdir()

    def make(name: str, entry_points: Mapping[str, Mapping[str, str]], **kw: object) -> Path:
        posekit_dists.write_dist(root, name, entry_points, **kw)
        from posekit.registry import refresh

        refresh()
        return root

    with posekit_dists.on_path(root):
        yield make
