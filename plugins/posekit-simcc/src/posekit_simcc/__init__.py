"""posekit-simcc: SimCC family: SimCCLabel codec, SimCCHead, RTMCCHead (RTMPose) and KLDiscretLoss."""

__version__ = "0.1.0"
