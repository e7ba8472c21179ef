"""posekit-lifting: 2D-to-3D lifting family: ImagePoseLifting/VideoPoseLifting codecs, TCN backbone, temporal/trajectory regression heads, MPJPELoss."""

__version__ = "0.1.0"
