"""ED-Pose for posekit: EDPoseHead and the EDPoseLabel codec (entry points; importing this imports neither)."""

__version__ = "0.1.0"
