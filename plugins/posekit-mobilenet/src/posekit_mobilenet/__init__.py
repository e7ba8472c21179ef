"""posekit-mobilenet: MobileNetV2, MobileNetV3, ViPNAS_MobileNetV3, ShuffleNetV1 and ShuffleNetV2 backbones with
MMPose's state_dict keys."""

__version__ = "0.1.0"
