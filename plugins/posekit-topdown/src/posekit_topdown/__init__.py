"""posekit-topdown: the top-down paradigm.

``TopdownPoseEstimator`` (one person crop per sample), the transforms that make the crops
(``GetBBoxCenterScale``, ``RandomHalfBody``, ``RandomBBoxTransform``, ``TopdownAffine``) and
``TopdownServing`` (every box of an image cropped, crops of several images batched), all found
through the registry.
"""

__version__ = "0.1.0"
