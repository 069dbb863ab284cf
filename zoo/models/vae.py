"""Variational autoencoder (Kingma & Welling 2014) on dynamically binarised MNIST.

    python -m zoo.train vae_mnist
    python -m zoo.train vae_mnist --set latent_dim=2 --epochs 20     # a 2-D code: latent_manifold.png
    python -m zoo.train vae_mnist --set beta=4                       # a beta-VAE
    python -m export runs/vae_mnist/<run>                            # encoder_*.tflite, decoder_*.tflite

A convolutional encoder gives the mean and log-variance of q(z|x); z is drawn by the
reparameterisation trick; the decoder gives Bernoulli pixel logits p(x|z). The loss is
the negative ELBO (with `beta` weighting the KL term), in nats per image. As in keras-io's
VAE example, the logic lives in `train_step` / `test_step`, so `fit`, callbacks, progress
bars, checkpoints and `--resume` work unchanged; the reconstruction and KL terms appear
beside the loss in the progress bar, history.csv and TensorBoard.
"""

import keras
import tensorflow as tf

from zoo import data
from zoo.registry import recipe
from zoo.defaults import TRAINING_DEFAULTS


@keras.saving.register_keras_serializable(package="zoo")
class VAE(keras.Model):
    """encoder: /255 -> Conv(`filters`, stride 2) -> Conv(2 x `filters`, stride 2) -> Dense(256) -> mean and
    log-variance of `latent_dim` numbers; decoder: Dense -> reshape -> 2 x ConvTranspose(stride 2) -> pixel logits.
    Calling the model reconstructs from the mean code: Bernoulli probabilities, float32."""

    def __init__(self, image_shape, latent_dim=16, filters=32, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = [int(d) for d in image_shape]
        self.latent_dim, self.filters, self.beta = latent_dim, filters, float(beta)
        h, w, channels = self.image_shape
        if h % 4 or w % 4:
            raise ValueError(f"image height and width must be multiples of 4, got {h}x{w}")
        small = (h // 4, w // 4, 2 * filters)
        self.encoder = keras.Sequential([
            keras.layers.Rescaling(1.0 / 255.0),
            keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(2 * filters, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
        ], name="encoder")
        self.z_mean = keras.layers.Dense(latent_dim, dtype="float32", name="z_mean")
        self.z_log_var = keras.layers.Dense(latent_dim, dtype="float32", name="z_log_var")
        self.decoder = keras.Sequential([
            keras.layers.Dense(small[0] * small[1] * small[2], activation="relu"), keras.layers.Reshape(small),
            keras.layers.Conv2DTranspose(2 * filters, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(channels, 3, padding="same", dtype="float32"),  # Bernoulli logits, float32
        ], name="decoder")
        self.seed = keras.random.SeedGenerator(0)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "reconstruction", "kl")}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def encode(self, images, training=False):
        """(mean, log-variance) of q(z | images), float32."""
        h = self.encoder(images, training=training)
        return self.z_mean(h), self.z_log_var(h)

    def decode(self, z, training=False):
        """Bernoulli probabilities of the pixels given codes z."""
        return keras.ops.sigmoid(self.decoder(z, training=training))

    def call(self, inputs, training=False):
        mean, _ = self.encode(inputs, training=training)
        return self.decode(mean, training=training)

    def negative_elbo_terms(self, images, training=False):
        """Per image: reconstruction -log p(x|z) for one z ~ q(z|x), and KL(q(z|x) || N(0, I)), in nats."""
        mean, log_var = self.encode(images, training=training)
        z = mean + keras.ops.exp(0.5 * log_var) * keras.random.normal(keras.ops.shape(mean), seed=self.seed)
        logits = self.decoder(z, training=training)
        target = keras.ops.cast(images, "float32") / 255.0
        reconstruction = keras.ops.sum(
            keras.ops.binary_crossentropy(target, logits, from_logits=True), axis=(1, 2, 3))
        kl = -0.5 * keras.ops.sum(1.0 + log_var - keras.ops.square(mean) - keras.ops.exp(log_var), axis=1)
        return reconstruction, kl

    def _step(self, data, training):
        images = data[0] if isinstance(data, (tuple, list)) else data
        reconstruction, kl = self.negative_elbo_terms(images, training=training)
        reconstruction, kl = keras.ops.mean(reconstruction), keras.ops.mean(kl)
        return reconstruction + self.beta * kl, reconstruction, kl

    def _track(self, loss, reconstruction, kl):
        for name, value in (("loss", loss), ("reconstruction", reconstruction), ("kl", kl)):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self._step(data, training=True)
            scaled = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16, else the loss itself
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return self._track(loss, reconstruction, kl)

    def test_step(self, data):
        return self._track(*self._step(data, training=False))

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "latent_dim": self.latent_dim,
                "filters": self.filters, "beta": self.beta}


VAE_DEFAULTS = {**TRAINING_DEFAULTS, "epochs": 30, "batch_size": 128, "learning_rate": 1e-3, "latent_dim": 16,
                "filters": 32, "beta": 1.0,
                "iw_samples": 100, "iw_examples": 1000}  # the importance-sampled likelihood: k draws, test images
VAE_SPACE = {
    "learning_rate": {"type": "float", "min": 3e-4, "max": 3e-3, "sampling": "log"},
    "latent_dim": {"type": "choice", "values": [8, 16, 32, 64]},
    "filters": {"type": "choice", "values": [16, 32, 64]},
}


@recipe(data=data.binarized_mnist, task="vae", hparams=VAE_DEFAULTS, search_space=VAE_SPACE)
def vae_mnist(hp, info):
    """Convolutional VAE on dynamically binarised MNIST (16-D code): ELBO and importance-sampled likelihood.

    python -m zoo.train vae_mnist
    """
    return VAE(info.input_shape, latent_dim=hp["latent_dim"], filters=hp["filters"], beta=hp["beta"])
