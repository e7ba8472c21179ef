"""posekit-hrnet: HRNet backbone with MMPose-compatible state_dict keys."""

__version__ = "0.1.0"
