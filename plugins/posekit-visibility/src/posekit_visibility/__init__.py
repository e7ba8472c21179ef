"""posekit-visibility: VisPredictHead, keypoint visibility prediction wrapped around a pose head."""

__version__ = "0.1.0"
