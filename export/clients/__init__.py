"""Scripts an app-side client runs in its own environment (no zoo, no TensorFlow): they load the exported files the
way apps do and print what they computed, for the tests and benchmarks to compare."""
