"""The core's algorithm paradigms (top-down, bottom-up, lifting) and the data preprocessor."""
