"""The trainer's own behaviour: one ``posekit.hooks`` entry point per module, as a plugin's."""
