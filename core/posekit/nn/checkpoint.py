"""Reading checkpoints: the one reader used by resume, ``init_model`` and MMPose interop.

``.pth`` files load with ``weights_only=True`` plus numpy's array globals (MMPose stores arrays
in ``meta["dataset_meta"]``); ``.safetensors`` files need the ``safetensors`` package.
"""

from __future__ import annotations

import os
import re
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
            raise CheckpointError(
                f"could not download checkpoint {url}: {type(e).__name__}: {e}; "
                f"with no network, put the file at {target} (or give a local path)"
            ) from e
    return target


def _resolve(path: str | os.PathLike[str]) -> Path:
    text = str(path)
    if text.startswith(("http://", "https://")):
        return _download(text)
    if "://" in text:
        raise CheckpointError(f"checkpoint {text!r}: unsupported scheme; give a local path or an http(s) URL")
    return Path(text)


def check_finite_weights(state: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or inf; ``source`` names where they were read from."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise CheckpointError(
            f"{source}: weights hold NaN or inf ({', '.join(bad[:5])}{more}); its predictions would be "
            "garbage. Use a checkpoint from before training diverged"
        )


def load_error_reason(e: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in one line, without torch's advice to load unsafely."""
    refused = re.search(r"unsupported global:? (?:GLOBAL )?([\w.]+)", str(e), re.IGNORECASE)
    if refused:
        return f"it needs the Python object {refused.group(1)}, which is refused (a checkpoint never runs code)"
    last = str(e).strip().splitlines()[-1] if str(e).strip() else "no message"
    return f"the file is empty, truncated or not a torch checkpoint ({type(e).__name__}: {last})"


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint file (``.pth``/``.pt``/``.ckpt``/``.safetensors``, or a URL).

    Returns the stored dict: MMPose's ``{"meta": ..., "state_dict": ...}``, a training run's
    checkpoint, or a bare state dict (a ``.safetensors`` file: ``{"state_dict": tensors}``).
    A URL is downloaded once into torch's hub cache.
    """
    file = _resolve(path)
    if not file.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} not found")
    if file.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as e:
            raise CheckpointError(f"checkpoint {file}: reading .safetensors needs the safetensors package") from e
        return {"state_dict": load_file(str(file), device=str(map_location))}
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as e:
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
    ``strict``, else a warning (BatchNorm's ``num_batches_tracked`` counters may be absent). A state that
    shares no key with the module is always an error.
    """
    own = module.state_dict()
    # BatchNorm's num_batches_tracked is a counter, not a weight: checkpoints of frozen norms (MMPose's
    # FrozenBatchNorm2d, which posekit builds as BN) have none, and the module keeps its own
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
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
    """Load a checkpoint file into ``module``; return the keys that did not load.

    ``prefix`` takes only keys under it and strips it (``"backbone."`` loads an MMPose pose-model
    checkpoint into its backbone); ``strict`` as :func:`load_state_dict`.
    """
    source = f"checkpoint {str(path)!r}" + (f" (prefix {prefix!r})" if prefix else "")
    state = extract_state_dict(read_checkpoint(path), prefix, source)
    return load_state_dict(module, state, strict=strict, source=source)


#: MMPose's model-zoo checkpoint schemes (resolved by mmengine from torchvision's and OpenMMLab's tables)
ZOO_SCHEMES = frozenset({"torchvision", "open-mmlab", "openmmlab", "mmcls", "mmpretrain"})


def load_pretrained(module: nn.Module, init_cfg: PretrainedInit | Mapping[str, Any]) -> LoadResult:
    """Apply MMPose's ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``.

    Non-strict like mmengine's ``PretrainedInit`` (an ImageNet checkpoint carries a classifier the
    backbone lacks), with the skipped keys warned about and mis-shaped keys refused.
    """
    cfg = as_config(PretrainedInit, init_cfg, "init_cfg")
    scheme = cfg.checkpoint.split("://", 1)[0] if "://" in cfg.checkpoint else ""
    if scheme in ZOO_SCHEMES:
        # MMPose resolves model-zoo names only in init_weights(); posekit's components initialise while
        # they are built, so the first call (the build) defers it and a later init_weights() resolves it
        if not getattr(module, "_posekit_zoo_deferred", False):
            module._posekit_zoo_deferred = True
            warnings.warn(
                f"{type(module).__name__}: init_cfg checkpoint {cfg.checkpoint!r} is a model-zoo name, left "
                "unloaded at build; calling init_weights() resolves it (as MMPose), which needs the file",
                UserWarning,
                stacklevel=2,
            )
            return LoadResult([], [])
        raise CheckpointError(
            f"{type(module).__name__}: init_cfg checkpoint {cfg.checkpoint!r}: {scheme}:// names point into "
            "model zoos posekit does not download; give a local .pth/.safetensors path or an http(s) URL"
        )
    return load_checkpoint(module, cfg.checkpoint, prefix=cfg.prefix, strict=False)


def load_model_checkpoint(
    model: nn.Module,
    checkpoint: str | os.PathLike[str] | Mapping[str, Any],
    strict: bool = True,
    source: str | None = None,
) -> dict[str, Any]:
    """Copy a checkpoint's weights (a file, URL or read dict) into a whole model; return its ``meta``.

    ``meta`` is ``{}`` when absent; ``strict`` as :func:`load_state_dict`.
    """
    if not isinstance(checkpoint, Mapping):
        source, checkpoint = source or f"checkpoint {os.fspath(checkpoint)!r}", read_checkpoint(checkpoint)
    source = source or "checkpoint"
    state = extract_state_dict(checkpoint, None, source)
    check_finite_weights(state, source)
    load_state_dict(model, state, strict=strict, source=source)
    meta = checkpoint.get("meta")
    return dict(meta) if isinstance(meta, Mapping) else {}


# --------------------------------------------------------------------------- distributions


def _component_names(node: Any) -> set[str]:
    """Every ``type`` string in a nested config (mappings and lists)."""
    if isinstance(node, Mapping):
        own = {node["type"].rpartition(":")[2]} if isinstance(node.get("type"), str) else set()
        return own.union(*map(_component_names, node.values()))
    if isinstance(node, (list, tuple)):
        return set().union(*map(_component_names, node))
    return set()


def component_distributions(config: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """``{component name: (distribution, version)}`` for each registered ``type`` in ``config`` at any depth.

    Reads entry-point metadata only; names that are not components (an optimizer's ``AdamW``) are left out.
    """
    from posekit.registry import entries

    wanted = _component_names(config)
    return {e.name: (e.dist, e.version) for e in entries() if e.name in wanted}


def require_distributions(checkpoint: Mapping[str, Any], source: str = "checkpoint") -> None:
    """Refuse a checkpoint whose ``meta["distributions"]`` names a distribution that is not installed.

    Checkpoints without that record (written by ``posekit train``) pass.
    """
    from posekit.registry import entries

    meta = checkpoint.get("meta")
    recorded = meta.get("distributions") if isinstance(meta, Mapping) else None
    if not isinstance(recorded, Mapping):
        return
    installed = {e.name for e in entries()}
    missing = {str(name): tuple(dv) for name, dv in recorded.items() if name not in installed}
    if missing:
        needs = sorted({f"{dist}=={version}" for dist, version in missing.values()})
        names = ", ".join(f"{n} (from {d} {v})" for n, (d, v) in sorted(missing.items()))
        raise CheckpointError(
            f"{source} was written with components that are not installed: {names}. "
            f"Install them with: pip install {' '.join(repr(n) for n in needs)}"
        )
