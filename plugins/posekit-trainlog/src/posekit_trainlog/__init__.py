"""posekit-trainlog: TensorBoard scalars and the training-curve PNG, as hook plugins (``tensorboard``, ``curves``)."""

__version__ = "0.1.0"
