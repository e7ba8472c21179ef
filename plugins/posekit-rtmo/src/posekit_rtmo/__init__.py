"""posekit-rtmo: one-stage multi-person pose estimation (RTMO, YOLOX-Pose)."""

__version__ = "0.1.0"
