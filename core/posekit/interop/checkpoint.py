"""Loading an MMPose training checkpoint (``{"meta": ..., "state_dict": ...}``) into a posekit model.

The file is read with ``torch.load(weights_only=True)`` plus only numpy's array-reconstruction
globals (see :mod:`posekit.nn.checkpoint`); ``.safetensors`` files when ``safetensors`` is
installed. Keys already match MMPose's, so no renaming happens here.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn


def load_model_checkpoint(model: nn.Module, path: str | os.PathLike[str], strict: bool = True) -> dict[str, Any]:
    """Copy a checkpoint's weights into ``model``; return the checkpoint's ``meta`` (``{}`` when absent).

    Args:
        model: the posekit estimator built from the checkpoint's config.
        path: a ``.pth``/``.pt``/``.safetensors`` file or an ``http(s)://`` URL.
        strict: missing or unexpected keys raise :class:`~posekit.errors.CheckpointError` (default
            True); mis-shaped keys always do. The error lists the first keys of each kind.
    """
    from posekit.inference.validate import check_finite_weights
    from posekit.nn.checkpoint import extract_state_dict, load_state_dict, read_checkpoint

    source = f"checkpoint {os.fspath(path)!r}"
    checkpoint = read_checkpoint(path)
    state = extract_state_dict(checkpoint, None, source)
    check_finite_weights(state, source)
    load_state_dict(model, state, strict=strict, source=source)
    meta = checkpoint.get("meta")
    return dict(meta) if isinstance(meta, dict) else {}
