"""Reading annotation files with errors that name the file (and, upstream, the annotation)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from posekit.errors import DataError


class AnnotationFileNotFoundError(DataError, FileNotFoundError):
    """An annotation, detection or camera file that does not exist."""


def join_root(path: str, data_root: str | None) -> str:
    """``path`` under ``data_root`` unless it is absolute (mmengine's rule for ``ann_file``)."""
    if data_root and path and not os.path.isabs(path):
        return os.path.join(data_root, path)
    return path


def check_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path; raises :class:`AnnotationFileNotFoundError` naming ``what`` when absent."""
    path = Path(path)
    if not str(path) or not path.is_file():
        raise AnnotationFileNotFoundError(f"{what} {str(path) or '(empty path)'!r} does not exist")
    return path


def read_json(path: str | os.PathLike[str], what: str = "annotation file") -> Any:
    """Parse a JSON file; missing, unreadable or malformed files raise errors naming it."""
    path = check_file(path, what)
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{what} {path} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from e
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{what} {path} cannot be read: {e}") from e
