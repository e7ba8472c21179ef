"""The transform base class and ``Compose``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from posekit.structures import PoseSample


class BaseTransform:
    """A data-pipeline step: ``transform(sample) -> sample`` (updated in place and returned).

    Test-time pipelines leave out transforms that set ``train_only = True``. One that mixes in other
    samples (``Mosaic``) sets ``needs_dataset = True`` and is called as ``transform(sample, dataset=...)``.
    """

    #: whether the step runs only in training (skipped by test-time pipelines)
    train_only: ClassVar[bool] = False
    #: whether the step is called with the dataset it runs in (``transform(sample, dataset=...)``)
    needs_dataset: ClassVar[bool] = False

    def __call__(self, sample: PoseSample) -> PoseSample:
        raise NotImplementedError

    def __repr__(self) -> str:
        names = [n for n in inspect.signature(type(self).__init__).parameters if n != "self"]
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in names if hasattr(self, n))
        return f"{type(self).__name__}({args})"


class Compose:
    """Apply transforms in order; each is a config ``{"type": Name, ...}`` or a callable."""

    def __init__(self, transforms: Sequence[dict[str, Any] | Callable[[PoseSample], PoseSample]]) -> None:
        from posekit.registry import build

        self.transforms = [build("transform", t, where=f"pipeline[{i}]") for i, t in enumerate(transforms)]

    def __call__(self, sample: PoseSample) -> PoseSample:
        for t in self.transforms:
            sample = t(sample)
        return sample

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"
