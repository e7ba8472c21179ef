"""posekit-losses: MMPose 1.x losses beyond the families' own (wing, focal, BCE, JS, OKS, wrappers, ...)."""

__version__ = "0.1.0"
