"""posekit-regression: Regression family: RegressionLabel/IntegralRegressionLabel codecs, RegressionHead, RLEHead, IntegralRegressionHead and their losses."""

__version__ = "0.1.0"
