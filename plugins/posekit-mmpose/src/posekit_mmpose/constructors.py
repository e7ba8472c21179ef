"""MMEngine's and MMPose's param-group constructors (``optim_constructor``): ``Constructor(**cfg)(model,
optimizer_cfg)`` -> param groups ``{"params", "lr", "weight_decay"}``; parameters whose options agree share one
group. Without a constructor the core groups by ``norm_decay_mult`` and ``bias_decay_mult`` alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from posekit.engine.optim import NORM_LAYERS

if TYPE_CHECKING:
    from posekit.config.schema import OptimizerCfg


class CustomKey(BaseModel):
    """Options of the parameters whose full name contains a ``custom_keys`` key."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lr_mult: float = Field(1.0, ge=0)
    decay_mult: float = Field(1.0, ge=0)


class DefaultOptimWrapperConstructor:
    """Per-parameter LR and weight-decay multipliers, as MMEngine's ``paramwise_cfg``.

    A parameter whose full name (``backbone.stem.conv.weight``) contains a key of
    ``custom_keys`` (the longest key first) takes that key's ``lr_mult`` and ``decay_mult``, and
    no other rule; every other parameter: a norm layer's ``norm_decay_mult``, else a bias's
    ``bias_decay_mult``, a depth-wise conv's ``dwconv_decay_mult``, a 1-d parameter's
    ``flat_decay_mult`` (the first that applies), and a non-norm bias's ``bias_lr_mult``.

    Args:
        custom_keys: name substring -> ``{lr_mult, decay_mult}``.
        bypass_duplicate: MMEngine's switch (posekit always puts a shared parameter in one group).
    """

    example_config: dict[str, Any] = {"custom_keys": {"backbone": {"lr_mult": 0.1}}, "norm_decay_mult": 0.0}

    def __init__(
        self,
        custom_keys: dict[str, CustomKey] | None = None,
        bias_lr_mult: float | None = None,
        bias_decay_mult: float | None = None,
        norm_decay_mult: float | None = None,
        dwconv_decay_mult: float | None = None,
        flat_decay_mult: float | None = None,
        bypass_duplicate: bool = False,
    ) -> None:
        keys = {k: CustomKey.model_validate(v) for k, v in (custom_keys or {}).items()}
        self.custom_keys = dict(sorted(sorted(keys.items()), key=lambda kv: len(kv[0]), reverse=True))
        self.bias_lr_mult = bias_lr_mult
        self.bias_decay_mult = bias_decay_mult
        self.norm_decay_mult = norm_decay_mult
        self.dwconv_decay_mult = dwconv_decay_mult
        self.flat_decay_mult = flat_decay_mult
        self.force_default_settings = False  # MMPose's switch: the default rules after a custom key's too

    def _default_rules(self, module: nn.Module, name: str, param: nn.Parameter) -> tuple[float | None, float | None]:
        """(LR multiplier, weight-decay multiplier) the default rules give a parameter (None: no rule applies)."""
        is_norm = isinstance(module, NORM_LAYERS)
        lr_mult = self.bias_lr_mult if name == "bias" and not is_norm else None
        is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
        rules = (
            (is_norm, self.norm_decay_mult),
            (name == "bias", self.bias_decay_mult),
            (is_dwconv, self.dwconv_decay_mult),
            (param.ndim == 1, self.flat_decay_mult),
        )
        return lr_mult, next((mult for applies, mult in rules if applies and mult is not None), None)

    def __call__(self, model: nn.Module, cfg: OptimizerCfg) -> list[dict[str, Any]]:
        """The param groups of ``model``'s trainable parameters (module order kept).

        Args:
            model: the model (unwrapped, not DDP).
            cfg: the optimizer config (its ``lr`` and ``weight_decay`` are the bases).
        """
        groups: dict[tuple[float, float], list[nn.Parameter]] = {}
        seen: set[int] = set()
        for prefix, module in model.named_modules():
            for name, param in module.named_parameters(recurse=False):
                if not param.requires_grad or id(param) in seen:
                    continue
                seen.add(id(param))
                full = f"{prefix}.{name}"
                key = next((k for k in self.custom_keys if k in full), None)
                lr_mult, decay_mult = (1.0, 1.0)
                if key is not None:
                    lr_mult, decay_mult = self.custom_keys[key].lr_mult, self.custom_keys[key].decay_mult
                if key is None or self.force_default_settings:  # a default rule replaces the custom key's
                    rule_lr, rule_decay = self._default_rules(module, name, param)
                    lr_mult = rule_lr if rule_lr is not None else lr_mult
                    decay_mult = rule_decay if rule_decay is not None else decay_mult
                groups.setdefault((cfg.lr * lr_mult, cfg.weight_decay * decay_mult), []).append(param)
        return [{"params": params, "lr": lr, "weight_decay": wd} for (lr, wd), params in groups.items()]


class ForceDefaultOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """MMPose's constructor: as MMEngine's, and with ``force_default_settings`` the default rules
    (norm, bias, depth-wise, flat) also apply to parameters a custom key matched (RTMO).

    Args:
        force_default_settings: apply the default rules after a custom key's.
        (the rest as :class:`DefaultOptimWrapperConstructor`)
    """

    example_config: dict[str, Any] = {
        "custom_keys": {"neck.encoder": {"lr_mult": 0.05}},
        "norm_decay_mult": 0.0,
        "force_default_settings": True,
    }

    def __init__(self, force_default_settings: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # validated with DefaultOptimWrapperConstructor's typed arguments
        self.force_default_settings = force_default_settings
