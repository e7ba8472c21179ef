"""The core's protocols: what a backbone, neck, head, codec and estimator promise."""

from posekit.protocols.backbone import BaseBackbone
from posekit.protocols.codec import BaseKeypointCodec, Codec
from posekit.protocols.estimator import BasePoseEstimator
from posekit.protocols.head import BaseHead
from posekit.protocols.neck import BaseNeck

__all__ = ["BaseBackbone", "BaseHead", "BaseKeypointCodec", "BaseNeck", "BasePoseEstimator", "Codec"]
