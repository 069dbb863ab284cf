"""Convolutional autoencoder; with `noise_std` > 0, a denoising autoencoder.

    python -m zoo.train ae_mnist
    python -m zoo.train ae_mnist --set noise_std=0.3        # denoising: noisy inputs, clean targets
    python -m export runs/ae_mnist/<run>                     # encoder_*.tflite and decoder_*.tflite

The encoder halves the image twice with strided convolutions and ends in a dense code;
the decoder mirrors it with transposed convolutions and a sigmoid, so outputs are pixel
intensities in [0, 1]. The model computes its loss against its own input (binary
cross-entropy per pixel, `compute_loss`), so `fit` needs no targets and the training
pipeline is the classifiers' one.
"""

import keras

from zoo import data
from zoo.models.layers import pixel_rescaling
from zoo.registry import recipe
from zoo.defaults import TRAINING_DEFAULTS


@keras.saving.register_keras_serializable(package="zoo")
class ConvAutoencoder(keras.Model):
    """encoder: /255 -> Conv(`filters`, stride 2) -> Conv(2 x `filters`, stride 2) -> Dense(`code_dim`);
    decoder: Dense -> reshape -> 2 x ConvTranspose(stride 2) -> Conv(channels, sigmoid). In training, Gaussian
    noise of `noise_std` (0..1 scale) is added to the input and clipped; the loss compares with the clean input."""

    def __init__(self, image_shape, code_dim=64, filters=32, noise_std=0.0, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = [int(d) for d in image_shape]
        self.code_dim, self.filters, self.noise_std = code_dim, filters, float(noise_std)
        h, w, channels = self.image_shape
        if h % 4 or w % 4:
            raise ValueError(f"image height and width must be multiples of 4, got {h}x{w}")
        small = (h // 4, w // 4, 2 * filters)

        def conv(f, transpose=False, **kw):
            layer = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
            return layer(f, 3, padding="same", **kw)

        self.noise = keras.layers.GaussianNoise(self.noise_std) if self.noise_std else None
        self.encoder = keras.Sequential([
            pixel_rescaling(), conv(filters, strides=2, activation="relu"),
            conv(2 * filters, strides=2, activation="relu"), keras.layers.Flatten(), keras.layers.Dense(code_dim),
        ], name="encoder")
        self.decoder = keras.Sequential([
            keras.layers.Dense(small[0] * small[1] * small[2], activation="relu"), keras.layers.Reshape(small),
            conv(2 * filters, transpose=True, strides=2, activation="relu"),
            conv(filters, transpose=True, strides=2, activation="relu"),
            conv(channels, activation="sigmoid", dtype="float32"),  # float32 pixels under mixed precision
        ], name="decoder")
        self.mse = keras.metrics.Mean(name="mse")

    def call(self, inputs, training=False):
        x = inputs
        if self.noise is not None and training:
            x = keras.ops.clip(self.noise(x / 255.0, training=True), 0.0, 1.0) * 255.0
        return self.decoder(self.encoder(x, training=training), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Binary cross-entropy per pixel against the clean input (labels are ignored); tracks MSE too."""
        target = keras.ops.cast(x, "float32") / 255.0
        y_pred = keras.ops.cast(y_pred, "float32")
        self.mse.update_state(keras.ops.mean(keras.ops.square(target - y_pred)))
        loss = keras.ops.mean(keras.ops.binary_crossentropy(target, y_pred))
        return loss + keras.ops.sum(self.losses) if self.losses else loss

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "code_dim": self.code_dim,
                "filters": self.filters, "noise_std": self.noise_std}


AE_DEFAULTS = {**TRAINING_DEFAULTS, "epochs": 15, "learning_rate": 2e-3, "code_dim": 64, "filters": 32,
               "noise_std": 0.0}
AE_SPACE = {
    "learning_rate": {"type": "float", "min": 3e-4, "max": 1e-2, "sampling": "log"},
    "code_dim": {"type": "choice", "values": [16, 32, 64, 128]},
    "filters": {"type": "choice", "values": [16, 32, 64]},
}


@recipe(data=data.mnist, task="reconstruction", hparams=AE_DEFAULTS, search_space=AE_SPACE)
def ae_mnist(hp, info):
    """Convolutional autoencoder on MNIST digits (64-number code); --set noise_std=0.3 makes it a denoiser.

    python -m zoo.train ae_mnist
    """
    return ConvAutoencoder(info.input_shape, code_dim=hp["code_dim"], filters=hp["filters"],
                           noise_std=hp["noise_std"])
