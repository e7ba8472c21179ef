"""Subcommands of the ``posekit`` command line, one module each."""
