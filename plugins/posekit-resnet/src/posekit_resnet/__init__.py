"""posekit-resnet: ResNet and ResNetV1d backbones with MMPose-compatible state_dict keys."""

__version__ = "0.1.0"
