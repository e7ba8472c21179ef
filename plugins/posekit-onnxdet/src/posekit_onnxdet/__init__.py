"""posekit-onnxdet: person boxes from a user-supplied ONNX detection model, run with onnxruntime."""

__version__ = "0.1.0"
