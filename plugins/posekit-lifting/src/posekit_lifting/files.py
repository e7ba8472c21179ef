"""Reading Human3.6M's files as MMPose writes them: ``.npz`` annotations, ``.npy`` arrays, ``cameras.pkl``.

Pickled objects are refused in ``.npz``/``.npy``; the camera pickle is read by a restricted
unpickler that builds only containers and numpy arrays. Errors name the file.
"""

from __future__ import annotations

import importlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from posekit.datasets import check_file
from posekit.errors import DataError


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
