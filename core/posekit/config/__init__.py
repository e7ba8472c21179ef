"""Experiment configs: schema, files, overrides."""

from posekit.config.io import apply_overrides, dump_config, load_config, read_file, validate_experiment
from posekit.config.schema import DataSection, DataSplit, Experiment, OptimSection, TrainSection

__all__ = [
    "DataSection",
    "DataSplit",
    "Experiment",
    "OptimSection",
    "TrainSection",
    "apply_overrides",
    "dump_config",
    "load_config",
    "read_file",
    "validate_experiment",
]
