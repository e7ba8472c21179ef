"""posekit-classic: AlexNet and VGG backbones with MMPose's state_dict keys."""

__version__ = "0.1.0"
