"""posekit-hand3d: 3D hand pose estimation (InterNet, InterHand2.6M).

The Hand3DHeatmap codec, InternetHead, HandRandomFlip, the InterHand2.6M datasets and InterHandMetric.
"""

__version__ = "0.1.0"
