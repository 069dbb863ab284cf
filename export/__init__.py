"""Export trained runs to SavedModel and TFLite (float32, float16, dynamic-range, int8), optionally pruned.

    python -m export RUN_DIR [--quantize all] [--prune 0.8]
    python -m export.inspect FILE.tflite

Every artifact is checked against the Keras model and evaluated with the LiteRT
interpreter (`ai_edge_litert`). Imports `zoo`; `zoo` never imports this package.
"""
