"""The trainer's own behaviour as pluggy hook implementations, one module per entry point.

Registered in the core's pyproject under ``posekit.hooks`` exactly as a plugin registers
its own, and switched off by name with ``hooks.disable: [logger]`` in a config. Each has
its own validated section ``hooks.<name>`` (the module's ``config_model``):

- ``timer``: per-iteration ``time`` and ``data_time`` in the step's outputs;
- ``ema``: the exponential moving average of the weights (``hooks.ema``);
- ``evaluation``: the validation pass (``run_validation``) with the config's metrics;
- ``checkpoint``: periodic, best and final checkpoints (``hooks.checkpoint``);
- ``logger``: progress bar (``hooks.logger.interval``), ``scalars.jsonl``, ``train.log``; each row also to the
  ``log_scalars`` hook (TensorBoard and ``curves.png`` are posekit-trainlog's hooks).
"""
