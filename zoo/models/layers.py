"""Small pieces shared by model families."""

import keras


def classifier_head(num_classes: int, name: str = "head"):
    """Dense logits + a float32 softmax, so outputs stay float32 under mixed precision."""
    return (
        keras.layers.Dense(num_classes, name=name),
        keras.layers.Activation("softmax", dtype="float32", name="probabilities"),
    )


def pixel_rescaling():
    """Models take raw 0..255 pixels and rescale inside, so exported models need no preprocessing."""
    return keras.layers.Rescaling(1.0 / 255.0, name="rescale")
