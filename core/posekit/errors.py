"""posekit's exceptions: each says who is involved, where, and what to do next."""

from __future__ import annotations


class PosekitError(Exception):
    """Base class of posekit's errors."""


class UnknownComponentError(PosekitError, LookupError):
    """A component name that no installed distribution registers."""

    def __str__(self) -> str:  # LookupError's repr-quoting would double the quotes
        return str(self.args[0]) if self.args else ""


class DuplicateComponentError(PosekitError, LookupError):
    """The same component name registered by two distributions."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class PluginLoadError(PosekitError, ImportError):
    """A plugin's entry point failed to import or is incompatible with this core."""


class ConfigError(PosekitError, ValueError):
    """A config (file, field path) that does not validate."""


class CheckpointError(PosekitError, ValueError):
    """A checkpoint that does not fit the model it is loaded into."""


class DataError(PosekitError, ValueError):
    """Bad input data: names the file and the annotation or image id."""


class ContractError(PosekitError, NotImplementedError):
    """A plugin component that lacks a method of its protocol: names the class, its distribution and the method."""
