"""Typed sub-component configs (``decoder: CodecConfig``), validated against the component's own signature.

The constructor receives a plain ``dict`` (or a built component) and builds it with :func:`posekit.registry.build`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator


def _nested(kind: str) -> AfterValidator:
    def check(value: dict[str, Any]) -> dict[str, Any]:
        from posekit.registry import validate_nested

        validate_nested(kind, value)
        return value

    return AfterValidator(check)


BackboneConfig = Annotated[dict[str, Any], _nested("backbone")]
NeckConfig = Annotated[dict[str, Any], _nested("neck")]
HeadConfig = Annotated[dict[str, Any], _nested("head")]
CodecConfig = Annotated[dict[str, Any], _nested("codec")]
LossConfig = Annotated[dict[str, Any], _nested("loss")]
DataPreprocessorConfig = Annotated[dict[str, Any], _nested("data_preprocessor")]
TransformConfig = Annotated[dict[str, Any], _nested("transform")]
MetricConfig = Annotated[dict[str, Any], _nested("metric")]
DatasetConfig = Annotated[dict[str, Any], _nested("dataset")]
DetectorConfig = Annotated[dict[str, Any], _nested("detector")]
OptimConstructorConfig = Annotated[dict[str, Any], _nested("optim_constructor")]
