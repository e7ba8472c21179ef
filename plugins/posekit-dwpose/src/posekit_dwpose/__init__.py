"""posekit-dwpose: DWPoseDistiller, KDLoss and FeaLoss (DWPose two-stage distillation)."""

__version__ = "0.1.0"
