"""MMPose's own param-group constructor (``optim_constructor``), beside MMEngine's default in the core."""

from __future__ import annotations

from typing import Any

from posekit.engine.constructors import CustomKey, DefaultOptimWrapperConstructor


class ForceDefaultOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """MMPose's constructor: as MMEngine's, and with ``force_default_settings`` the default rules
    (norm, bias, depth-wise, flat) also apply to parameters a custom key matched (RTMO).

    Args:
        force_default_settings: apply the default rules after a custom key's.
        (the rest as :class:`posekit.engine.constructors.DefaultOptimWrapperConstructor`)
    """

    example_config: dict[str, Any] = {
        "custom_keys": {"neck.encoder": {"lr_mult": 0.05}},
        "norm_decay_mult": 0.0,
        "force_default_settings": True,
    }

    def __init__(
        self,
        custom_keys: dict[str, CustomKey] | None = None,
        bias_lr_mult: float | None = None,
        bias_decay_mult: float | None = None,
        norm_decay_mult: float | None = None,
        dwconv_decay_mult: float | None = None,
        flat_decay_mult: float | None = None,
        bypass_duplicate: bool = False,
        force_default_settings: bool = False,
    ) -> None:
        super().__init__(
            custom_keys, bias_lr_mult, bias_decay_mult, norm_decay_mult, dwconv_decay_mult, flat_decay_mult
        )
        self.force_default_settings = force_default_settings
