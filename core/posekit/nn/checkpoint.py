"""Loading weights: MMPose checkpoints (``{"meta": ..., "state_dict": ...}``) without running code.

``.pth`` files are read with ``torch.load(weights_only=True)``, allowing only numpy's array
reconstruction globals (MMPose's runner stores numpy arrays in ``meta["dataset_meta"]``);
``.safetensors`` files need the ``safetensors`` package. A checkpoint that does not fit the
module raises :class:`~posekit.errors.CheckpointError` listing the first missing, unexpected and
mis-shaped keys.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from posekit.errors import CheckpointError
from posekit.nn.configs import PretrainedInit, as_config

#: how many keys of each kind an error message lists
_SHOW = 5


class LoadResult(NamedTuple):
    """Keys that did not load (only non-empty when ``strict=False``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _numpy_safe_globals() -> list[Any]:
    """numpy's array reconstruction globals, under the names numpy 1.x and 2.x pickle them with."""
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    dtype_classes = (
        [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")] if hasattr(np, "dtypes") else []
    )
    return [
        (_reconstruct, "numpy.core.multiarray._reconstruct"),
        (_reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        bytes,
        *dtype_classes,
    ]


def _download(url: str) -> Path:
    """Download ``url`` once into torch's hub cache (``$TORCH_HOME/hub/checkpoints``)."""
    target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?")[0])
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(url, str(target), progress=False)
        except Exception as e:
            raise CheckpointError(f"could not download checkpoint {url}: {type(e).__name__}: {e}") from e
    return target


def _resolve(path: str | os.PathLike[str]) -> Path:
    text = str(path)
    if text.startswith(("http://", "https://")):
        return _download(text)
    if "://" in text:
        raise CheckpointError(f"checkpoint {text!r}: unsupported scheme; give a local path or an http(s) URL")
    return Path(text)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint file (``.pth``/``.pt``/``.safetensors``, or a URL) onto the CPU.

    Returns the stored object: MMPose's ``{"meta": ..., "state_dict": ...}`` or a bare state dict.
    Never unpickles arbitrary objects (``weights_only=True``).
    """
    file = _resolve(path)
    if not file.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} not found")
    if file.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as e:
            raise CheckpointError(f"checkpoint {file}: reading .safetensors needs the safetensors package") from e
        return dict(load_file(str(file), device="cpu"))
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:
        from posekit.engine.checkpoint import load_error_reason

        raise CheckpointError(f"checkpoint {file} could not be read: {load_error_reason(e)}") from e
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"checkpoint {file} holds a {type(obj).__name__}, not a dict of tensors")
    return dict(obj)


def extract_state_dict(
    checkpoint: Mapping[str, Any], prefix: str | None = None, source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """The tensors of ``checkpoint["state_dict"]`` (or of the bare dict), with ``prefix`` kept and stripped.

    A DDP ``module.`` prefix is removed first, as mmengine does.
    """
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source}: 'state_dict' is a {type(state).__name__}, not a dict of tensors")
    tensors = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if prefix:
        kept = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not kept:
            sample = ", ".join(list(tensors)[:_SHOW]) or "(none)"
            raise CheckpointError(f"{source} has no keys under prefix {prefix!r}; its first keys: {sample}")
        tensors = kept
    return tensors


def _listing(title: str, items: list[str]) -> str:
    more = f", ... ({len(items) - _SHOW} more)" if len(items) > _SHOW else ""
    return f"\n  {len(items)} {title}: {', '.join(items[:_SHOW])}{more}"


def load_state_dict(
    module: nn.Module, state: Mapping[str, torch.Tensor], strict: bool = True, source: str = "checkpoint"
) -> LoadResult:
    """Copy ``state`` into ``module``, checking keys and shapes first.

    Mis-shaped keys are always an error; missing or unexpected keys are an error when
    ``strict``, else a warning. A state that shares no key with the module is always an error.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshaped = [
        f"{k} (checkpoint {tuple(v.shape)}, model {tuple(own[k].shape)})"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    name = type(module).__name__
    if misshaped or len(missing) == len(own) or (strict and (missing or unexpected)):
        msg = f"{source} does not fit {name}:"
        msg += _listing("missing keys", missing) if missing else ""
        msg += _listing("unexpected keys", unexpected) if unexpected else ""
        msg += _listing("mis-shaped keys", misshaped) if misshaped else ""
        raise CheckpointError(
            msg + "\n  Is it a checkpoint of this architecture and config (depth, widths, stages), "
            "and is the prefix right (e.g. 'backbone.')?"
        )
    if missing or unexpected:
        warnings.warn(
            f"{source} loaded into {name} non-strictly:"
            + (_listing("missing keys (left as initialised)", missing) if missing else "")
            + (_listing("unexpected keys (ignored)", unexpected) if unexpected else ""),
            stacklevel=3,
        )
    module.load_state_dict(dict(state), strict=False)
    return LoadResult(missing, unexpected)


def load_checkpoint(
    module: nn.Module, path: str | os.PathLike[str], prefix: str | None = None, strict: bool = True
) -> LoadResult:
    """Load a checkpoint file into ``module``.

    Args:
        module: the model or sub-model to fill.
        path: a ``.pth``/``.safetensors`` file, or an ``http(s)://`` URL.
        prefix: take only keys under this prefix and strip it, e.g. ``"backbone."`` to load an
            MMPose pose-model checkpoint into its backbone. Default None (all keys).
        strict: missing or unexpected keys raise :class:`CheckpointError` (default True);
            otherwise they are listed in a warning. Mis-shaped keys always raise.

    Returns:
        the keys that did not load, as ``(missing_keys, unexpected_keys)``.
    """
    source = f"checkpoint {str(path)!r}" + (f" (prefix {prefix!r})" if prefix else "")
    state = extract_state_dict(read_checkpoint(path), prefix, source)
    return load_state_dict(module, state, strict=strict, source=source)


def load_pretrained(module: nn.Module, init_cfg: PretrainedInit | Mapping[str, Any]) -> LoadResult:
    """Apply MMPose's ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``.

    Non-strict like mmengine's ``PretrainedInit`` (an ImageNet checkpoint carries a classifier the
    backbone lacks), with the skipped keys warned about and mis-shaped keys refused.
    """
    cfg = as_config(PretrainedInit, init_cfg, "init_cfg")
    return load_checkpoint(module, cfg.checkpoint, prefix=cfg.prefix, strict=False)
