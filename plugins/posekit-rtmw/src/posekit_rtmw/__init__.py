"""posekit-rtmw: RTMWHead (RTMPose whole-body)."""

__version__ = "0.1.0"
