"""posekit-yourmodel: a posekit plugin. Importing the package imports no component module."""

__version__ = "0.1.0"
