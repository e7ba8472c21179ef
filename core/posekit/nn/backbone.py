"""What backbones share: freezing the first stages and BatchNorm statistics (MMPose's ``frozen_stages``,
``norm_eval``), the weight init with ``init_cfg`` and collecting the ``out_indices`` stage outputs."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from torch import Tensor, nn

from posekit.nn.checkpoint import load_pretrained
from posekit.nn.configs import PretrainedInit
from posekit.nn.init import constant_init, is_norm
from posekit.nn.resblocks import zero_init_last_norms


def freeze(*modules: nn.Module | None) -> None:
    """Eval mode and ``requires_grad=False`` for every parameter (a backbone's ``frozen_stages``)."""
    for m in modules:
        if m is not None:
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


def run_stages(x: Tensor, stages: Iterable[nn.Module], out_indices: Container[int]) -> tuple[Tensor, ...]:
    """``x`` through each stage in turn; the outputs of the stages whose index is in ``out_indices``."""
    outs = []
    for i, stage in enumerate(stages):
        x = stage(x)
        if i in out_indices:
            outs.append(x)
    return tuple(outs)


def batchnorms_eval(module: nn.Module) -> None:
    """Put every BatchNorm (incl. SyncBatchNorm) in eval mode: running statistics stay fixed (``norm_eval``)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class FrozenStagesMixin:
    """``train()`` that keeps a backbone's frozen stages (and, with ``norm_eval``, BatchNorms) in eval mode.

    Mix in before the module class (``class ResNet(FrozenStagesMixin, BaseBackbone)``). The
    backbone sets ``self.norm_eval`` and says which modules its ``frozen_stages`` cover in
    :meth:`frozen_modules`; it calls :meth:`freeze_stages` at the end of ``__init__``.
    """

    norm_eval: bool = False

    def frozen_modules(self) -> list[nn.Module]:
        """The modules of the frozen stages (stem first); none by default."""
        return []

    def freeze_stages(self) -> None:
        """Eval mode and no gradients for :meth:`frozen_modules`."""
        freeze(*self.frozen_modules())

    def train(self, mode: bool = True) -> Any:
        """Set training mode, keeping frozen stages (and, with ``norm_eval``, BatchNorms) in eval mode."""
        super().train(mode)  # type: ignore[misc]
        self.freeze_stages()
        if mode and self.norm_eval:
            batchnorms_eval(self)  # type: ignore[arg-type]
        return self


def init_backbone(
    module: nn.Module,
    conv_init: Callable[[nn.Module], None],
    init_cfg: PretrainedInit | Mapping[str, Any] | None = None,
    zero_init_residual: bool = False,
) -> None:
    """``conv_init`` on every Conv2d and unit norms; then ``init_cfg``'s weights, else (``zero_init_residual``)
    each residual block's last norm at 0.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            conv_init(m)
        elif is_norm(m):
            constant_init(m, 1.0)
    if init_cfg is not None:
        load_pretrained(module, init_cfg)
    elif zero_init_residual:
        zero_init_last_norms(module)
