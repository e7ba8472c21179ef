"""Layer-wise learning-rate decay for ViT backbones: MMPose's ``LayerDecayOptimWrapperConstructor``.

ViTPose's configs write ``optim_wrapper=dict(constructor='LayerDecayOptimWrapperConstructor',
paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.75, custom_keys=...))``; in posekit that is
``optim.optimizer.constructor: {type: LayerDecayOptimWrapperConstructor, num_layers: 12, ...}`` (the
``paramwise_cfg`` keys as arguments, as the converter writes them; entry-point group
``posekit.optim_constructors``), called as ``Constructor(**cfg)(model, optimizer_cfg)``.

With ``L = num_layers + 2`` depths, a parameter of the estimator gets depth 0 (``backbone.cls_token``,
``backbone.mask_token``, ``backbone.pos_embed``, ``backbone.patch_embed.*``), ``i + 1``
(``backbone.layers.i.*``) or ``L - 1`` (everything else: final norms, neck, head), and the learning
rate ``lr * layer_decay_rate ** (L - 1 - depth)``. 1-D parameters, biases and position embeddings
get no weight decay, the others ``weight_decay``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from posekit.nn import as_config

#: parameter names at depth 0 (with the patch embedding)
_EMBEDDINGS = ("backbone.cls_token", "backbone.mask_token", "backbone.pos_embed")


class LayerDecayCfg(BaseModel):
    """MMPose's ``paramwise_cfg`` of ``LayerDecayOptimWrapperConstructor``.

    Args:
        num_layers: the ViT's encoder layers (12 for ViT-B).
        layer_decay_rate: the learning-rate factor from one depth to the one below. Default 0.5 (MMPose's).
        custom_keys: accepted as ViTPose's configs write them (``{'bias': dict(decay_mult=0.)}``, ...)
            and, as in MMPose, not applied: the weight-decay rule above already covers them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_layers: int = Field(ge=0)
    layer_decay_rate: float = Field(0.5, gt=0, le=1)
    custom_keys: dict[str, dict[str, float]] = {}


def layer_depth(name: str, num_depths: int) -> int:
    """The depth of estimator parameter ``name`` among ``num_depths`` (MMPose's ``get_num_layer_for_vit``)."""
    if name in _EMBEDDINGS or name.startswith("backbone.patch_embed"):
        return 0
    if name.startswith("backbone.layers."):
        return int(name.split(".")[2]) + 1
    return num_depths - 1


class LayerDecayOptimWrapperConstructor:
    """Parameter groups with a learning rate per ViT depth (see the module docstring).

    Args:
        num_layers: the ViT's encoder layers (12 for ViT-B).
        layer_decay_rate: the learning-rate factor from one depth to the one below. Default 0.5.
        custom_keys: accepted as ViTPose's configs write them, not applied (as MMPose).
    """

    example_config = {"num_layers": 2, "layer_decay_rate": 0.75}

    def __init__(
        self, num_layers: int, layer_decay_rate: float = 0.5, custom_keys: dict[str, dict[str, float]] | None = None
    ) -> None:
        paramwise = {"num_layers": num_layers, "layer_decay_rate": layer_decay_rate, "custom_keys": custom_keys or {}}
        self.cfg = as_config(LayerDecayCfg, paramwise, "paramwise_cfg")

    def __call__(self, model: nn.Module, optimizer_cfg: Any) -> list[dict[str, Any]]:
        """Groups of ``model``'s trainable parameters, in MMPose's order and with its keys.

        Args:
            model: the estimator (parameter names start with ``backbone.``).
            optimizer_cfg: the optimizer settings; reads ``lr`` and ``weight_decay``.

        Returns:
            one dict per ``layer_<depth>_{decay,no_decay}`` group: ``params``, ``param_names``,
            ``lr`` (``lr * lr_scale``), ``lr_scale``, ``weight_decay``, ``group_name``.
        """
        base_lr = float(_setting(optimizer_cfg, "lr"))
        base_wd = float(_setting(optimizer_cfg, "weight_decay"))
        num_depths = self.cfg.num_layers + 2
        groups: dict[str, dict[str, Any]] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = param.ndim == 1 or name.endswith(".bias") or "pos_embed" in name
            depth = layer_depth(name, num_depths)
            key = f"layer_{depth}_{'no_decay' if no_decay else 'decay'}"
            if key not in groups:
                scale = self.cfg.layer_decay_rate ** (num_depths - depth - 1)
                groups[key] = {
                    "weight_decay": 0.0 if no_decay else base_wd,
                    "params": [],
                    "param_names": [],
                    "lr_scale": scale,
                    "group_name": key,
                    "lr": scale * base_lr,
                }
            groups[key]["params"].append(param)
            groups[key]["param_names"].append(name)
        return list(groups.values())


def _setting(cfg: Any, key: str) -> Any:
    """``cfg.key`` of a settings object, or ``cfg[key]`` of a mapping."""
    return cfg[key] if isinstance(cfg, dict) else getattr(cfg, key)
