"""The core's own paradigm (top-down), the shared estimator wiring and the data preprocessor."""
