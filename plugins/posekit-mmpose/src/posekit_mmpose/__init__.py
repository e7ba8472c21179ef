"""MMPose interop for posekit: whole MMPose configs converted, and MMPose's keypoint definitions.

``posekit convert mmpose-config`` (entry point ``posekit.commands``), ``.py`` configs read by
``posekit config check``/``train``/``init_model`` (entry point ``posekit.config_formats``), and
every dataset definition of MMPose's ``_base_/datasets/`` (entry points ``posekit.metainfo``), the LR
phases and the optimizer constructors MMPose configs name beyond the core's (``posekit.lr_phases``,
``posekit.optim_constructors``). Importing the package imports nothing else.
"""

__version__ = "0.1.0"
