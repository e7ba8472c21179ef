"""posekit-lifting: the 2D-to-3D lifting family.

ImagePoseLifting / VideoPoseLifting codecs, the TCN backbone, the temporal and trajectory
regression heads and MPJPELoss.
"""

__version__ = "0.1.0"
