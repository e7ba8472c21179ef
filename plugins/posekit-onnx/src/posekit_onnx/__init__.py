"""posekit-onnx: ONNX deployment in one place.

Export (:mod:`posekit_onnx.export`, the ``posekit export`` command of :mod:`posekit_onnx.command`)
and the onnxruntime backend (:mod:`posekit_onnx.runtime`: crops top-down, whole images of heads that
export candidate people) that runs what export writes, found by
``posekit.Inferencer`` through the entry-point group ``posekit.backends``; and the ``optimize_model``
hook (:mod:`posekit_onnx.extractor`, entry point ``extractor_graph`` of ``posekit.hooks``) that runs
the backbone and neck of every model ``posekit.init_model`` serves as onnxruntime graphs.
"""

from posekit_onnx.export import ExportablePoseModel, export_onnx, verify_onnx
from posekit_onnx.runtime import (
    METADATA_KEY,
    OnnxFile,
    OnnxImage,
    OnnxTopdown,
    compare_with_torch,
    file_metadata,
    onnx_serving,
    ort_session,
    torch_predict,
)

__all__ = [
    "METADATA_KEY",
    "ExportablePoseModel",
    "OnnxFile",
    "OnnxImage",
    "OnnxTopdown",
    "compare_with_torch",
    "export_onnx",
    "file_metadata",
    "onnx_serving",
    "ort_session",
    "torch_predict",
    "verify_onnx",
]

__version__ = "0.1.0"
