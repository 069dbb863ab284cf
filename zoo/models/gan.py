"""DCGAN (Radford et al. 2016): a generator from noise and a discriminator, trained in alternation.

    python -m zoo.train dcgan_mnist
    python -m zoo.train dcgan_fashion_mnist --epochs 30
    python -m export runs/dcgan_mnist/<run>            # generator_*.tflite: noise in, image out

As in keras-io's DCGAN example, the alternating updates live in `train_step`, each network
with its own optimizer, so `fit`, progress bars, TensorBoard, checkpoints and `--resume`
(both optimizers' state included) work unchanged. The generator ends in tanh, mapped to
pixel intensities 0..1; the discriminator takes raw 0..255 pixels like every zoo model.
Calling the model gives the discriminator's probability that an image is real.
"""

import keras
import tensorflow as tf

from zoo import data
from zoo.registry import recipe
from zoo.defaults import TRAINING_DEFAULTS


@keras.saving.register_keras_serializable(package="zoo")
class DCGAN(keras.Model):
    """generator: noise(`noise_dim`) -> Dense -> BN-ReLU -> reshape (h/4, w/4, 2 x `filters`) -> `base_convs` x
    ConvTranspose(2 x `filters`, 3x3, stride 1) -> BN-ReLU -> ConvTranspose(`filters`, stride 2) -> BN-ReLU ->
    ConvTranspose(channels, stride 2, tanh) -> intensities 0..1;
    discriminator: pixels -> Conv(`filters`, stride 2) -> LeakyReLU -> Dropout -> Conv(2 x `filters`, stride 2) ->
    LeakyReLU -> Dropout -> Dense(1) logit. `label_smoothing` softens the real targets of the discriminator.
    With `ema` > 0, `sampler` is a second generator holding the exponential moving average of the generator's
    weights (decay `ema` per step; Yazici et al. 2019): it draws every image outside training and is what export
    writes, since the averaged weights give cleaner samples than the last step's."""

    def __init__(self, image_shape, noise_dim=64, filters=32, dropout=0.3, label_smoothing=0.1, ema=0.0, base_convs=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.image_shape = [int(d) for d in image_shape]
        self.noise_dim, self.filters, self.dropout = noise_dim, filters, dropout
        self.label_smoothing, self.ema, self.base_convs = float(label_smoothing), float(ema), int(base_convs)
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema is a per-step decay in [0, 1), got {ema}")
        if self.image_shape[0] % 4 or self.image_shape[1] % 4:
            raise ValueError(f"image height and width must be multiples of 4, got {image_shape}")
        self.generator = self._generator("generator")
        self.average = self._generator("generator_ema") if self.ema else None
        if self.average is not None:
            self.average.trainable = False  # moved by train_step's averaging, never by an optimizer
        self.discriminator = keras.Sequential([
            keras.layers.Rescaling(1.0 / 127.5, offset=-1.0),
            keras.layers.Conv2D(filters, 4, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
            keras.layers.Dropout(dropout),
            keras.layers.Conv2D(2 * filters, 4, strides=2, padding="same"), keras.layers.LeakyReLU(0.2),
            keras.layers.Dropout(dropout),
            keras.layers.Flatten(), keras.layers.Dense(1, dtype="float32"),  # the logit of "real"
        ], name="discriminator")
        self.seed = keras.random.SeedGenerator(0)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss", "d_real", "d_fake")}
        self.d_optimizer = self.g_optimizer = None

    def _generator(self, name):
        (h, w, channels), filters = self.image_shape, self.filters
        base = [layer for _ in range(self.base_convs) for layer in (
            keras.layers.Conv2DTranspose(2 * filters, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(), keras.layers.ReLU())]
        return keras.Sequential([
            keras.layers.Dense(h // 4 * w // 4 * 2 * filters, use_bias=False),
            keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.Reshape((h // 4, w // 4, 2 * filters)),
            *base,
            keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False),
            keras.layers.BatchNormalization(), keras.layers.ReLU(),
            keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh", dtype="float32"),
            keras.layers.Rescaling(0.5, offset=0.5, dtype="float32"),  # tanh -> intensities 0..1
        ], name=name)

    @property
    def sampler(self):
        """The generator that draws images outside training: the weight average with `ema`, else the generator."""
        return self.average if self.average is not None else self.generator

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Two optimizers; `self.optimizer` is the generator's (its learning rate goes into history.csv)."""
        super().compile(optimizer=g_optimizer, **kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def get_compile_config(self):
        return None  # two optimizers: zoo.train compiles through the task; a loaded model is for generating

    def build(self, input_shape):
        """Both networks, so a resumed run can restore their weights and optimizer state before any step."""
        self.discriminator.build(input_shape)
        self.generator.build((None, self.noise_dim))
        if self.average is not None:
            self.average.build((None, self.noise_dim))  # starts as a copy of the generator at the first step
        self.built = True

    def build_optimizers(self):
        """Create both optimizers' variables (a resumed run loads their state into them)."""
        for optimizer, net in ((self.d_optimizer, self.discriminator), (self.g_optimizer, self.generator)):
            if not optimizer.built:
                optimizer.build(net.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def generate(self, noise, training=False):
        """Images as raw 0..255 pixels (what the discriminator and the run's data use): from the generator while
        training, else from `sampler`."""
        return (self.generator if training else self.sampler)(noise, training=training) * 255.0

    def call(self, inputs, training=False):
        return keras.ops.sigmoid(self.discriminator(inputs, training=training))

    def _noise(self, batch):
        return keras.random.normal((batch, self.noise_dim), seed=self.seed)

    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        batch = keras.ops.shape(real)[0]
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        with tf.GradientTape() as tape:  # the discriminator: real images -> 1 (smoothed), generated -> 0
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(self.generate(self._noise(batch), training=True), training=True)
            d_loss = (bce(keras.ops.ones_like(real_logits) * (1.0 - self.label_smoothing), real_logits)
                      + bce(keras.ops.zeros_like(fake_logits), fake_logits))
            scaled = self.d_optimizer.scale_loss(d_loss)
        grads = tape.gradient(scaled, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        with tf.GradientTape() as tape:  # the generator: make the discriminator say "real"
            logits = self.discriminator(self.generate(self._noise(batch), training=True), training=True)
            g_loss = bce(keras.ops.ones_like(logits), logits)
            scaled = self.g_optimizer.scale_loss(g_loss)
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        if self.average is not None:  # batch-norm statistics are averaged too; the first step copies
            decay = keras.ops.where(self.g_optimizer.iterations > 1, self.ema, 0.0)
            for average, current in zip(self.average.weights, self.generator.weights):
                average.assign(decay * average + (1.0 - decay) * current)
        values = {"d_loss": d_loss, "g_loss": g_loss, "d_real": keras.ops.mean(keras.ops.sigmoid(real_logits)),
                  "d_fake": keras.ops.mean(keras.ops.sigmoid(fake_logits))}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def test_step(self, data):
        """Validation: the discriminator's mean probability that held-out real images are real (`val_d_real`)."""
        real = data[0] if isinstance(data, (tuple, list)) else data
        self.trackers["d_real"].update_state(keras.ops.mean(self(real)))
        return {"d_real": self.trackers["d_real"].result()}

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "noise_dim": self.noise_dim,
                "filters": self.filters, "dropout": self.dropout, "label_smoothing": self.label_smoothing,
                "ema": self.ema, "base_convs": self.base_convs}


GAN_DEFAULTS = {**TRAINING_DEFAULTS, "epochs": 40, "batch_size": 128, "learning_rate": 2e-4, "beta_1": 0.5,
                "lr_schedule": "constant", "noise_dim": 64, "filters": 32, "dropout": 0.3, "label_smoothing": 0.1,
                "ema": 0.999, "base_convs": 1, "judge_epochs": 3, "samples": 10000}  # the judge classifier's epochs; generated images it scores
GAN_SPACE = {
    "learning_rate": {"type": "float", "min": 5e-5, "max": 1e-3, "sampling": "log"},
    "noise_dim": {"type": "choice", "values": [32, 64, 100]},
    "filters": {"type": "choice", "values": [16, 32, 64]},
    "base_convs": {"type": "choice", "values": [0, 1, 2]},
}


def _dcgan(hp, info):
    return DCGAN(info.input_shape, noise_dim=hp["noise_dim"], filters=hp["filters"], dropout=hp["dropout"],
                 label_smoothing=hp["label_smoothing"], ema=hp["ema"], base_convs=hp["base_convs"])


@recipe(data=data.mnist, task="gan", hparams=GAN_DEFAULTS, search_space=GAN_SPACE)
def dcgan_mnist(hp, info):
    """DCGAN generating MNIST digits; judged by a digit classifier the run trains itself.

    python -m zoo.train dcgan_mnist
    """
    return _dcgan(hp, info)


@recipe(data=data.fashion_mnist, task="gan", hparams={**GAN_DEFAULTS, "epochs": 20}, search_space=GAN_SPACE)
def dcgan_fashion_mnist(hp, info):
    """DCGAN generating Fashion-MNIST clothing; judged by a clothing classifier the run trains itself.

    python -m zoo.train dcgan_fashion_mnist
    """
    return _dcgan(hp, info)
