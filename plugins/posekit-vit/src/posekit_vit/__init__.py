"""posekit-vit: transformer backbones (ViTPose's VisionTransformer) with MMPose's state_dict keys, and the
layer-wise learning-rate decay of ViTPose's configs."""

__version__ = "0.1.0"
