"""Small pieces shared by model families."""

import keras


def classifier_head(num_classes: int, name: str = "head", regularizer=None):
    """Dense logits + a float32 softmax, so outputs stay float32 under mixed precision."""
    return (
        keras.layers.Dense(num_classes, name=name, kernel_regularizer=regularizer),
        keras.layers.Activation("softmax", dtype="float32", name="probabilities"),
    )


def pixel_rescaling():
    """Models take raw 0..255 pixels and rescale inside, so exported models need no preprocessing."""
    return keras.layers.Rescaling(1.0 / 255.0, name="rescale")


@keras.saving.register_keras_serializable(package="zoo")
class Standardize(keras.layers.Layer):
    """(x - mean) / std per channel, with fixed constants (Keras's Normalization layer cannot be built
    inside a subclassed model's first call)."""

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]

    def call(self, inputs):
        mean = keras.ops.convert_to_tensor(self.mean, dtype=inputs.dtype)
        scale = keras.ops.convert_to_tensor([1.0 / s for s in self.std], dtype=inputs.dtype)
        return (inputs - mean) * scale

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


def input_scaling(mean=None, std=None):
    """Raw 0..255 pixels in: standardised per channel with the training split's `mean` and `std` (0..255 scale)
    when given, else divided by 255. Either way the exported model needs no preprocessing."""
    if mean is None:
        return pixel_rescaling()
    return Standardize(mean, std, name="standardize")


def kernel_regularizer(l1: float = 0.0, l2: float = 0.0):
    """The `l1` / `l2` hyperparameters as a kernel penalty (None when both are 0)."""
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


# tf.image.rgb_to_grayscale's weights (what the own-folder pipelines use) scaled to sum to 1: theirs sum to 0.9999, so
# a gray pixel given in all three channels came out 0.01% darker, and int8 files rounded a few test images otherwise
LUMINANCE = tuple(w / 0.9999 for w in (0.2989, 0.5870, 0.1140))


@keras.saving.register_keras_serializable(package="zoo")
class Luminance(keras.layers.Layer):
    """RGB pixels (..., 3) -> grayscale (..., 1), weighted as the data pipelines convert colour images (to 0.01%)
    and giving a gray pixel back as it is; builtin TFLite ops (MUL, SUM) once exported."""

    def call(self, inputs):
        weights = keras.ops.convert_to_tensor(LUMINANCE, dtype=inputs.dtype)
        return keras.ops.sum(inputs * weights, axis=-1, keepdims=True)


def rgb_input(model, input_shape):
    """`model`, which takes grayscale images of `input_shape` (height, width, 1), as a model that takes RGB images:
    the file the image task APIs (3 or 4 channels only) can run."""
    inputs = keras.Input((*input_shape[:-1], 3), name="rgb")
    return keras.Model(inputs, model(Luminance(name="luminance")(inputs), training=False), name="rgb_input")
