"""MMPose's ``Albumentation`` transform, backed by the albumentations library (the ``albumentations`` extra).

MMPose's configs were written for albumentations 1.x; the few arguments that 2.x renamed
(``CoarseDropout``'s ``min/max_holes``, ``min/max_height``, ``min/max_width``) are translated,
and an argument albumentations does not know (which it warns about and ignores) is an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from posekit.errors import ConfigError, DataError
from posekit.structures import PoseSample
from posekit.transforms.base import BaseTransform
from posekit.transforms.rng import get_rng

#: albumentations 1.x argument pairs that 2.x takes as one range: transform -> {(low, high): range name}
RENAMED_RANGES: dict[str, dict[tuple[str, str], str]] = {
    "CoarseDropout": {
        ("min_holes", "max_holes"): "num_holes_range",
        ("min_height", "max_height"): "hole_height_range",
        ("min_width", "max_width"): "hole_width_range",
    },
}


def _import_albumentations() -> Any:
    try:
        import albumentations
    except ImportError as e:
        raise ConfigError(
            "Albumentation needs the albumentations library, an optional extra of posekit-datasets: "
            "pip install 'posekit-datasets[albumentations]'"
        ) from e
    return albumentations


def _translate(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """1.x range arguments of ``name`` as 2.x ranges (a missing low end takes the high end, as 1.x did)."""
    for (low, high), target in RENAMED_RANGES.get(name, {}).items():
        if high in args or low in args:
            hi = args.pop(high, None)
            lo = args.pop(low, None)
            hi = lo if hi is None else hi
            args[target] = (hi if lo is None else lo, hi)
    return args


class Albumentation(BaseTransform):
    """Apply an albumentations pipeline to the image (MMPose's ``Albumentation``).

    Args:
        transforms: albumentations transforms as configs, e.g. ``[{"type": "Blur", "p": 0.1},
            {"type": "CoarseDropout", "max_holes": 1, "max_height": 0.4, "max_width": 0.4, "p": 1.0}]``
            (nested ``transforms`` of ``OneOf`` and the like are configs too).
        keymap: sample field -> albumentations target; default ``{"img": "image"}``.
    """

    #: random augmentation: test-time pipelines leave it out
    train_only: ClassVar[bool] = True
    #: a small working instance (``posekit plugins --check``)
    example_config: ClassVar[dict[str, Any]] = {"transforms": [{"type": "Blur", "p": 0.5}]}

    def __init__(self, transforms: Sequence[Mapping[str, Any]], keymap: Mapping[str, str] | None = None) -> None:
        self.transforms = [dict(t) for t in transforms]
        self.keymap = dict(keymap) if keymap else {"img": "image"}
        unknown = [k for k in self.keymap if k not in PoseSample.__dataclass_fields__]
        if unknown:
            raise ConfigError(f"Albumentation: keymap names {unknown}, which are not fields of a PoseSample")
        albumentations = _import_albumentations()
        self._albu = albumentations
        self._aug = albumentations.Compose([self._build(t, f"transforms[{i}]") for i, t in enumerate(self.transforms)])

    def _build(self, cfg: Mapping[str, Any], where: str) -> Any:
        args = dict(cfg)
        name = args.pop("type", None)
        cls = getattr(self._albu, name, None) if isinstance(name, str) else None
        if cls is None:
            raise ConfigError(
                f"Albumentation: {where}: {name!r} is not an albumentations transform "
                f"(albumentations {self._albu.__version__})"
            )
        if "transforms" in args:
            args["transforms"] = [self._build(t, f"{where}.transforms[{i}]") for i, t in enumerate(args["transforms"])]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                transform = cls(**_translate(name, args))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"Albumentation: {where} ({name}): {e}") from e
        invalid = [str(w.message) for w in caught if "not valid" in str(w.message)]
        if invalid:  # albumentations only warns about unknown arguments and then ignores them
            raise ConfigError(f"Albumentation: {where} ({name}): {'; '.join(invalid)}")
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return transform

    def __call__(self, sample: PoseSample) -> PoseSample:
        inputs = {}
        for field, target in self.keymap.items():
            value = getattr(sample, field)
            if value is None:
                raise DataError(
                    f"Albumentation: sample.{field} is empty (image id {sample.img_id}); run LoadImage first"
                )
            inputs[target] = value
        self._aug.set_random_seed(int(get_rng(sample).integers(2**31 - 1)))
        outputs = self._aug(**inputs)
        for field, target in self.keymap.items():
            setattr(sample, field, outputs[target])
        return sample
