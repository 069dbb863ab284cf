"""Plain convolutional networks (VGG-style blocks) for small images.

    python -m zoo.train cnn_mnist
    python -m zoo.train cnn_fashion_mnist --epochs 30
    python -m zoo.train cnn_cifar10
"""

import keras

from zoo import data
from zoo.errors import UsageError
from zoo.models.layers import classifier_head, input_scaling, kernel_regularizer
from zoo.registry import recipe
from zoo.defaults import CLASSIFIER_DEFAULTS, CLASSIFIER_SPACE, TRAINING_SPACE


@keras.saving.register_keras_serializable(package="zoo")
class ConvNet(keras.Model):
    """`blocks` x [`convs_per_block` x (Conv3x3 -> BatchNorm -> ReLU) -> MaxPool2], filters doubling
    per block from `filters`; then Flatten -> Dropout -> Dense(`dense_units`) -> Dropout -> softmax.
    `padding="valid"` lets each convolution shrink its map by two pixels (28 -> 26 -> 13 -> 11 -> 5 on
    MNIST, as keras-io's convnet does): about half the work of "same" on small images.
    Inputs are raw 0..255 pixels, standardised per channel by `mean` / `std` when given, else divided
    by 255; `l1` / `l2` penalise every kernel.
    """

    def __init__(
        self,
        num_classes,
        filters=32,
        blocks=2,
        convs_per_block=1,
        dense_units=128,
        dropout=0.3,
        batch_norm=True,
        padding="same",
        l1=0.0,
        l2=0.0,
        mean=None,
        std=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.filters = filters
        self.blocks = blocks
        self.convs_per_block = convs_per_block
        self.dense_units = dense_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.padding = padding
        self.l1 = l1
        self.l2 = l2
        self.mean = None if mean is None else [float(m) for m in mean]
        self.std = None if std is None else [float(s) for s in std]
        self.rescale = input_scaling(self.mean, self.std)
        self.features = []
        for b in range(blocks):
            for c in range(convs_per_block):
                self.features.append(
                    keras.layers.Conv2D(filters * 2**b, 3, padding=padding, use_bias=not batch_norm,
                                        kernel_regularizer=kernel_regularizer(l1, l2), name=f"conv{b}_{c}")
                )
                if batch_norm:
                    self.features.append(keras.layers.BatchNormalization(name=f"bn{b}_{c}"))
                self.features.append(keras.layers.ReLU())
            self.features.append(keras.layers.MaxPooling2D(2, name=f"pool{b}"))
        self.flatten = keras.layers.Flatten()
        self.drop1 = keras.layers.Dropout(dropout)
        self.dense = keras.layers.Dense(dense_units, activation="relu", kernel_regularizer=kernel_regularizer(l1, l2),
                                        name="dense") if dense_units else None
        self.drop2 = keras.layers.Dropout(dropout)
        self.logits, self.softmax = classifier_head(num_classes, regularizer=kernel_regularizer(l1, l2))

    def embed(self, inputs, training=False):
        """The penultimate activations (the dense layer's, else the flattened maps): the features a Fréchet
        distance between image sets compares."""
        x = self.rescale(inputs)
        for layer in self.features:
            x = layer(x, training=training)
        x = self.drop1(self.flatten(x), training=training)
        return self.dense(x) if self.dense is not None else x

    def call(self, inputs, training=False):
        x = self.embed(inputs, training=training)
        if self.dense is not None:
            x = self.drop2(x, training=training)
        return self.softmax(self.logits(x))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "filters": self.filters,
            "blocks": self.blocks,
            "convs_per_block": self.convs_per_block,
            "dense_units": self.dense_units,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
            "padding": self.padding,
            "l1": self.l1,
            "l2": self.l2,
            "mean": self.mean,
            "std": self.std,
        }


def _convnet(hp, info, standardise_inputs=False):
    if hp["padding"] == "valid":
        side = min(info.input_shape[:2])
        for _ in range(hp["blocks"]):
            side = (side - 2 * hp["convs_per_block"]) // 2
        if side < 1:
            raise UsageError(f"padding=valid with {hp['blocks']} blocks of {hp['convs_per_block']} convolutions shrinks "
                             f"{info.input_shape[0]}x{info.input_shape[1]} images to nothing; use padding=same or "
                             "fewer blocks / convolutions")
    standardise = dict(mean=info.channel_mean, std=info.channel_std) if standardise_inputs else {}
    return ConvNet(
        num_classes=info.num_classes,
        filters=hp["filters"],
        blocks=hp["blocks"],
        convs_per_block=hp["convs_per_block"],
        dense_units=hp["dense_units"],
        dropout=hp["dropout"],
        batch_norm=hp["batch_norm"],
        padding=hp["padding"],
        l1=hp["l1"],
        l2=hp["l2"],
        **standardise,
    )


CNN_SPACE = {
    **CLASSIFIER_SPACE,
    "filters": {"type": "choice", "values": [16, 32, 64]},
    "convs_per_block": {"type": "int", "min": 1, "max": 2},
    "dense_units": {"type": "choice", "values": [64, 128, 256]},
    "dropout": {"type": "float", "min": 0.0, "max": 0.5, "step": 0.1},
}


@recipe(
    data=data.mnist,
    task="classification",
    hparams={
        **CLASSIFIER_DEFAULTS,
        "epochs": 12,
        "batch_size": 128,
        "steps_per_execution": 32,  # 3-7 ms steps: per-step Python took a quarter of each epoch with 1
        "learning_rate": 3e-3,
        # 16-32 valid-padded convolutions (maps 26 -> 13 -> 11 -> 5): 2.4x the step speed of 32-64 same-padded
        # ones in float32 on CPUs without bf16, for the same accuracy with 12 epochs (benchmarks/step_speed.py)
        "filters": 16,
        "blocks": 2,
        "convs_per_block": 1,
        "dense_units": 128,
        "dropout": 0.15,
        "batch_norm": False,  # BatchNorm in bfloat16 runs ~6x slower on CPU; this net trains well without it
        "padding": "valid",
        # shifts of up to 2 pixels as a zero-pad-and-crop (integer gathers): the same accuracy as the bilinear
        # RandomTranslation(0.08) it replaced, and bf16 epochs 2.4 -> 2.2 s, as it takes less CPU from the model
        "augment_translate": 0.0,
        "augment_crop": 2,
        "augment_flip": False,
    },
    search_space={**CNN_SPACE, "augment_crop": {"type": "choice", "values": [0, 1, 2, 3]}},
)
def cnn_mnist(hp, info):
    """The headline: a small fast CNN with shift augmentation on MNIST digits (>= 99.3% test accuracy).

    python -m zoo.train cnn_mnist
    """
    return _convnet(hp, info)


@recipe(
    data=data.fashion_mnist,
    task="classification",
    hparams={
        **CLASSIFIER_DEFAULTS,
        "epochs": 15,
        "batch_size": 128,
        "learning_rate": 2e-3,
        "filters": 32,
        "blocks": 2,
        "convs_per_block": 2,
        "dense_units": 256,
        "dropout": 0.25,
        "batch_norm": False,
        "padding": "same",
        "augment_translate": 0.05,
        "augment_flip": True,
    },
    search_space={
        **CNN_SPACE,
        "augment_translate": {"type": "choice", "values": [0.0, 0.05, 0.1]},
        "augment_flip": {"type": "bool"},
    },
)
def cnn_fashion_mnist(hp, info):
    """A deeper CNN (two convolutions per block) with shift/flip augmentation on Fashion-MNIST clothing.

    python -m zoo.train cnn_fashion_mnist
    """
    return _convnet(hp, info)


@recipe(
    data=data.cifar10,
    task="classification",
    hparams={
        **CLASSIFIER_DEFAULTS,
        "epochs": 15,
        "batch_size": 128,
        # SGD with Nesterov momentum beats Adam, AdamW and RMSprop at a fixed epoch budget here
        # (benchmarks/optimizers.py): 81.0% against Adam's 79.5% in the 15 epochs (JPEG-lossy copy).
        "optimizer": "sgd",
        "learning_rate": 0.05,
        "momentum": 0.9,
        "nesterov": True,
        "warmup_epochs": 1.0,
        "filters": 16,  # 16-32-64 with two convolutions per block: as fast as one of 32-64-128, more accurate
        "blocks": 3,
        "convs_per_block": 2,
        "dense_units": 128,
        "dropout": 0.0,  # crop + flip already regularise more than this small network needs (train < val)
        "batch_norm": True,
        "padding": "same",
        "augment_translate": 0.0,
        "augment_crop": 4,
        "augment_flip": True,
        "augment_cutout": 0,
    },
    search_space={
        **CNN_SPACE,
        **TRAINING_SPACE,
        "learning_rate": {"type": "float", "min": 1e-4, "max": 0.2, "sampling": "log"},  # adaptive ones to SGD's
        "augment_cutout": {"type": "choice", "values": [0, 8, 16]},
    },
)
def cnn_cifar10(hp, info):
    """The seed articles' plain conv-pool network on CIFAR-10 (3 x [2 x Conv-BN-ReLU, MaxPool], crop + flip): the baseline.

    python -m zoo.train cnn_cifar10
    """
    return _convnet(hp, info, standardise_inputs=True)
