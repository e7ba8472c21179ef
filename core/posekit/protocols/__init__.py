"""The core's protocols: what a backbone, neck, head, codec, estimator and its serving promise."""

from posekit.protocols.backbone import BaseBackbone
from posekit.protocols.codec import BaseKeypointCodec, Codec
from posekit.protocols.estimator import BasePoseEstimator
from posekit.protocols.head import BaseHead
from posekit.protocols.neck import BaseNeck
from posekit.protocols.serving import ImageRequest, KeypointRequest, Serving

__all__ = [
    "BaseBackbone",
    "BaseHead",
    "BaseKeypointCodec",
    "BaseNeck",
    "BasePoseEstimator",
    "Codec",
    "ImageRequest",
    "KeypointRequest",
    "Serving",
]
