"""ONNX deployment in one place: export (:mod:`posekit.onnx.export`) and the onnxruntime backend
(:mod:`posekit.onnx.runtime`) that runs what export writes (``pip install posekit[onnx]``)."""

from posekit.onnx.export import ExportablePoseModel, export_onnx, verify_onnx
from posekit.onnx.runtime import (
    METADATA_KEY,
    OnnxTopdown,
    compare_with_torch,
    file_metadata,
    ort_session,
    torch_predict,
)

__all__ = [
    "METADATA_KEY",
    "ExportablePoseModel",
    "OnnxTopdown",
    "compare_with_torch",
    "export_onnx",
    "file_metadata",
    "ort_session",
    "torch_predict",
    "verify_onnx",
]
