"""JSON that is JSON: every file posekit writes parses with any strict reader (no bare NaN/Infinity)."""

from __future__ import annotations

import json
import math
from typing import Any

from posekit.errors import DataError


def to_json(record: Any, where: str, **kwargs: Any) -> str:
    """``json.dumps(record, **kwargs)`` that refuses NaN/inf (naming ``where``) instead of writing invalid JSON."""
    try:
        return json.dumps(record, allow_nan=False, **kwargs)
    except ValueError as e:
        raise DataError(f"{where}: the values hold NaN or inf; refusing to write invalid JSON") from e


def scalars_json(row: dict[str, Any], **kwargs: Any) -> str:
    """A row of scalars as JSON, a non-finite number written as ``null`` (a diverged loss or an undefined metric)."""
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
    return json.dumps(clean, allow_nan=False, **kwargs)
