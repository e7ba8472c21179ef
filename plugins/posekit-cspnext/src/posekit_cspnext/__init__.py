"""posekit-cspnext: CSPNeXt backbone (RTMPose) with MMPose/MMDet-compatible state_dict keys."""

__version__ = "0.1.0"
