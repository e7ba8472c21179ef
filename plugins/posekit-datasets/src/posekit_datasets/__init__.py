"""posekit-datasets: MMPose's dataset types, CombinedDataset/KeypointConverter, Albumentation, dataset metrics."""

__version__ = "0.1.0"
