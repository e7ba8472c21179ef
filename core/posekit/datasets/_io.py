"""Reading annotation files with errors that name the file (and, upstream, the annotation)."""

from __future__ import annotations

import importlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from posekit.errors import DataError

#: MMPose's box scale unit for center/scale annotations (MPII, WFLW): ``scale * 200`` pixels
PIXEL_STD = 200.0


def number_array(value: Any, what: str, where: str) -> np.ndarray:
    """``value`` as a finite float32 array; errors name ``where`` (file and annotation)."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: {what} must be numbers, got {value!r:.80}") from e
    if not np.isfinite(array).all():
        raise DataError(f"{where}: {what} holds NaN, null or infinite values")
    return array


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


def load_npz(path: str | os.PathLike[str], what: str = "annotation file") -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` archive (pickled objects refused), read eagerly."""
    path = check_file(path, what)
    message = f"{what} {path} is not a readable .npz archive (pickled objects are refused)"
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{message}: {e}") from e
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataError(f"{message}: it holds a single {type(data).__name__}")
    try:
        with data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{message}: {e}") from e


def load_array(path: str | os.PathLike[str], what: str) -> np.ndarray:
    """The array of an ``.npy`` file, pickles refused."""
    path = check_file(path, what)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{what} {path} is not a readable .npy array (pickled objects are refused): {e}") from e


# numpy names a pickle of plain dicts / lists / arrays refers to, and nothing else
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds only containers, strings, numbers and numpy arrays.

    Any other global (a class, a function such as ``os.system``) is refused before it is
    looked up, so a crafted file cannot run code.
    """

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        target = _NUMPY_GLOBALS.get((module, name))
        if target is None and module == "numpy.dtypes" and name.endswith("DType"):
            target = (module, name)
        if target is None:
            raise DataError(
                f"{self.path}: refusing to unpickle {module}.{name}; only dicts, lists, tuples, strings, numbers "
                "and numpy arrays are allowed in a camera parameter file"
            )
        try:  # numpy 2 moved numpy.core to numpy._core
            found = importlib.import_module(target[0])
        except ImportError:
            found = importlib.import_module(module)
        return getattr(found, target[1])


def load_plain_pickle(path: str | os.PathLike[str], what: str) -> Any:
    """Unpickle a file of plain containers and numpy arrays (MMPose's ``cameras.pkl``).

    MMPose writes the Human3.6M camera parameters as a pickle; posekit reads it with a
    restricted unpickler instead of ``pickle.load``, which would run any code the file names.
    """
    path = check_file(path, what)
    try:
        with open(path, "rb") as f:
            return _ArrayUnpickler(f, path).load()
    except DataError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError) as e:
        raise DataError(f"{what} {path} is not a readable pickle of dicts and arrays: {e}") from e
