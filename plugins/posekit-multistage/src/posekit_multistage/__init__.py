"""posekit-multistage: CPM, HourglassNet, MSPN and RSN backbones with MMPose's state_dict keys."""

__version__ = "0.1.0"
