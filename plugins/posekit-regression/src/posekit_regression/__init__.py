"""posekit-regression: RegressionLabel / IntegralRegressionLabel codecs, regression heads and their losses.

RegressionHead, RLEHead and IntegralRegressionHead; SmoothL1Loss, L1Loss, RLELoss, SoftWeightSmoothL1Loss.
"""

__version__ = "0.1.0"
