"""Shared test helpers for the core's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from posekit_testing.dists import on_path, write_dist


@pytest.fixture
def throwaway(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Write throw-away distributions into one temporary ``sys.path`` entry."""
    root = tmp_path / "site"
    root.mkdir()

    def make(name: str, entry_points: Mapping[str, Mapping[str, str]], **kw: object) -> Path:
        write_dist(root, name, entry_points, **kw)  # type: ignore[arg-type]
        from posekit.registry import refresh

        refresh()
        return root

    with on_path(root):
        yield make
