"""The registry on the normal path: real installed distributions, as a user has them."""

from __future__ import annotations

import subprocess
import sys

import pytest

import posekit
from posekit.registry import GROUPS, entries, resolve


def test_list_components_has_every_kind() -> None:
    comps = posekit.list_components()
    assert set(comps) == set(GROUPS)
    assert "ResNet" in comps["backbone"]
    assert "FeatureMapProcessor" in comps["neck"]
    assert posekit.list_components("codec") == {"codec": comps["codec"]}


def test_every_design_group_has_a_component() -> None:
    empty = [kind for kind, names in posekit.list_components().items() if not names and kind != "detector"]
    assert not empty, f"entry-point groups with no installed component: {empty}"


def test_entries_name_their_distribution() -> None:
    resnet = resolve("backbone", "ResNet")
    assert resnet.dist == "posekit-resnet"
    assert resnet.value == "posekit_resnet.resnet:ResNet"
    core = resolve("neck", "FeatureMapProcessor")
    assert core.dist == "posekit"


def test_dist_qualified_name_resolves() -> None:
    assert resolve("backbone", "posekit-resnet:ResNet").name == "ResNet"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "import sys, posekit; posekit.list_components(); heavy = ('torch', 'numpy', 'pydantic', "
            "'posekit_resnet', 'posekit_heatmap'); print([m for m in heavy if m in sys.modules])",
            "[]",  # import posekit + listing import no heavy module
        ),
        (
            "import sys, posekit; assert 'posekit_resnet' not in sys.modules; "
            "m = posekit.build('backbone', {'type': 'ResNet', 'depth': 18}); "
            "print('posekit_resnet.resnet' in sys.modules, type(m).__name__)",
            "True ResNet",  # build imports the plugin on first use
        ),
    ],
    ids=["import-and-list-are-light", "build-imports-plugin-on-first-use"],
)
def test_plugins_load_lazily(code: str, expected: str) -> None:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected, f"{code}\nprinted {out.strip()}"


def test_build_validates_and_coerces() -> None:
    codec = posekit.build(
        "codec", {"type": "MSRAHeatmap", "input_size": [192, 256], "heatmap_size": [48, 64], "sigma": 2}
    )
    assert tuple(codec.input_size) == (192, 256)


def test_build_passes_through_built_objects() -> None:
    obj = object()
    assert posekit.build("codec", obj) is obj


@pytest.mark.parametrize("kind", list(GROUPS))
def test_entries_are_module_attr_paths(kind: str) -> None:
    for e in entries(kind):
        assert ":" in e.value, f"{e.dist}: entry point {e.name} = {e.value} is not 'module:attr'"


def test_kwargs_constructor_is_validated_with_its_bases_parameters() -> None:
    """A subclass passing ``**kwargs`` on accepts its base's typed arguments, minus its ``fixed_arguments``."""
    from typing import Any, ClassVar

    from pydantic import ValidationError
    from torch import nn

    from posekit.registry import _signature_model

    class Base(nn.Module):
        def __init__(self, depth: int, width: int = 8, deep: bool = False) -> None:
            super().__init__()

    class Variant(Base):
        fixed_arguments: ClassVar[dict[str, Any]] = {"deep": True}

        def __init__(self, depth: int, ratio: float = 0.5, **kwargs: Any) -> None:
            super().__init__(depth, **self.fixed_arguments, **kwargs)

    class Anything(nn.Module):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__()

    model = _signature_model(Variant)
    assert set(model.model_fields) == {"depth", "ratio", "width"}
    assert model.model_validate({"depth": 2, "width": 4}).width == 4
    for wrong in ({"depth": 2, "deep": False}, {"depth": 2, "widht": 4}, {"depth": 2, "width": "x"}):
        with pytest.raises(ValidationError):
            model.model_validate(wrong)
    assert _signature_model(Anything).model_validate({"any": 1}).model_extra == {"any": 1}
