"""Residual networks for small images (He et al. 2015, "Deep Residual Learning for Image Recognition", sec. 4.2).

    python -m zoo.train resnet20_cifar10
    python -m zoo.train resnet56_cifar10 --epochs 60

Three stages of 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps, each of n basic
blocks, so depth = 6n + 2 (n = 3: ResNet-20, n = 9: ResNet-56). `ResidualBlock` is
the reusable piece: other families stack it too.
"""

import keras

from zoo import data
from zoo.models.layers import classifier_head, input_scaling, kernel_regularizer
from zoo.registry import recipe
from zoo.defaults import CLASSIFIER_DEFAULTS, CLASSIFIER_SPACE, TRAINING_SPACE

SHORTCUTS = ("A", "B")


@keras.saving.register_keras_serializable(package="zoo")
class ResidualBlock(keras.layers.Layer):
    """Basic block: Conv3x3(stride) -> BN -> ReLU -> Conv3x3 -> BN, plus the shortcut, then ReLU.

    Where the block halves the map and doubles the filters, shortcut "A" (the paper's CIFAR choice)
    subsamples by 2 and pads the new channels with zeros, adding no parameters; "B" projects with a
    strided 1x1 convolution and BatchNorm. Elsewhere the shortcut is the identity. `zero_init` starts
    the second BatchNorm's scale at 0, so the block begins as its shortcut (Goyal et al. 2017).
    """

    def __init__(self, filters, stride=1, shortcut="A", l1=0.0, l2=0.0, zero_init=False, **kwargs):
        super().__init__(**kwargs)
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        self.filters, self.stride, self.shortcut, self.l1, self.l2 = filters, stride, shortcut, l1, l2
        self.zero_init = zero_init

        def conv(f, k, s):
            return keras.layers.Conv2D(f, k, strides=s, padding="same", use_bias=False,
                                       kernel_initializer="he_normal", kernel_regularizer=kernel_regularizer(l1, l2))

        self.conv1, self.bn1 = conv(filters, 3, stride), keras.layers.BatchNormalization()
        self.conv2 = conv(filters, 3, 1)
        self.bn2 = keras.layers.BatchNormalization(gamma_initializer="zeros" if zero_init else "ones")
        self.project = self.project_bn = self.subsample = None
        self.pad_channels = 0

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.stride != 1 or channels != self.filters:
            if self.shortcut == "B":
                self.project = keras.layers.Conv2D(self.filters, 1, strides=self.stride, use_bias=False,
                                                   kernel_regularizer=kernel_regularizer(self.l1, self.l2))
                self.project_bn = keras.layers.BatchNormalization()
            else:  # pooling with a 1x1 window subsamples without strided-slice ops (TFLite delegates prefer it)
                self.subsample = keras.layers.AveragePooling2D(1, strides=self.stride)
                self.pad_channels = self.filters - channels

    def call(self, inputs, training=False):
        x = keras.ops.relu(self.bn1(self.conv1(inputs), training=training))
        x = self.bn2(self.conv2(x), training=training)
        shortcut = inputs
        if self.project is not None:
            shortcut = self.project_bn(self.project(inputs), training=training)
        elif self.subsample is not None:
            shortcut = keras.ops.pad(self.subsample(inputs), [[0, 0], [0, 0], [0, 0], [0, self.pad_channels]])
        return keras.ops.relu(x + shortcut)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride, "shortcut": self.shortcut,
                "l1": self.l1, "l2": self.l2, "zero_init": self.zero_init}


@keras.saving.register_keras_serializable(package="zoo")
class ResNet(keras.Model):
    """Conv3x3(width) -> BN -> ReLU -> 3 stages of (depth - 2) / 6 `ResidualBlock`s with width, 2x and 4x
    filters (the 2nd and 3rd stage start with stride 2) -> global average pool -> Dropout -> softmax.
    Raw 0..255 pixels in, standardised per channel with `mean` / `std` inside."""

    def __init__(self, num_classes, depth=20, width=16, shortcut="A", dropout=0.0, l1=0.0, l2=0.0, mean=None,
                 std=None, zero_init_residual=False, **kwargs):
        super().__init__(**kwargs)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, 110, ...), got {depth}")
        self.num_classes, self.depth, self.width, self.shortcut = num_classes, depth, width, shortcut
        self.dropout, self.l1, self.l2, self.zero_init_residual = dropout, l1, l2, zero_init_residual
        self.mean = None if mean is None else [float(m) for m in mean]
        self.std = None if std is None else [float(s) for s in std]
        self.scale = input_scaling(self.mean, self.std)
        self.stem = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                                        kernel_regularizer=kernel_regularizer(l1, l2), name="stem")
        self.stem_bn = keras.layers.BatchNormalization(name="stem_bn")
        n = (depth - 2) // 6
        self.blocks = [ResidualBlock(width * 2**s, stride=2 if s and not b else 1, shortcut=shortcut, l1=l1, l2=l2,
                                     zero_init=zero_init_residual, name=f"stage{s + 1}_block{b + 1}")
                       for s in range(3) for b in range(n)]
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.drop = keras.layers.Dropout(dropout)
        self.logits, self.softmax = classifier_head(num_classes, regularizer=kernel_regularizer(l1, l2))

    def call(self, inputs, training=False):
        x = keras.ops.relu(self.stem_bn(self.stem(self.scale(inputs)), training=training))
        for block in self.blocks:
            x = block(x, training=training)
        x = self.drop(self.pool(x), training=training)
        return self.softmax(self.logits(x))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "depth": self.depth, "width": self.width,
                "shortcut": self.shortcut, "dropout": self.dropout, "l1": self.l1, "l2": self.l2,
                "mean": self.mean, "std": self.std, "zero_init_residual": self.zero_init_residual}


def _resnet(hp, info, depth):
    return ResNet(num_classes=info.num_classes, depth=depth, width=hp["width"], shortcut=hp["shortcut"],
                  dropout=hp["dropout"], l1=hp["l1"], l2=hp["l2"], mean=info.channel_mean, std=info.channel_std,
                  zero_init_residual=hp["zero_init_residual"])


RESNET_CIFAR_DEFAULTS = {
    **CLASSIFIER_DEFAULTS,
    "epochs": 30,
    "batch_size": 128,
    "optimizer": "sgd",
    "learning_rate": 0.1,
    "momentum": 0.9,
    "nesterov": True,
    # The weight decay of the paper's (and PyTorch's) SGD adds wd * w to the gradient, before momentum; Keras's
    # `weight_decay` is decoupled and acts ten times weaker under momentum 0.9, so the penalty goes in the loss:
    # l2 * sum(w**2) adds 2 * l2 * w, i.e. weight decay 5e-4, the usual value for short CIFAR schedules.
    "weight_decay": 0.0,
    "l2": 2.5e-4,
    "lr_schedule": "cosine",
    "warmup_epochs": 1.0,
    "width": 16,
    "shortcut": "A",
    "dropout": 0.0,
    "zero_init_residual": False,  # each block's last BatchNorm scale starts at 0 (the block starts as its shortcut)
    "augment_crop": 4,
    "augment_flip": True,
    "augment_cutout": 0,
}
RESNET_SPACE = {
    **CLASSIFIER_SPACE,
    **TRAINING_SPACE,
    "learning_rate": {"type": "float", "min": 1e-3, "max": 0.2, "sampling": "log"},
    "weight_decay": {"type": "choice", "values": [0.0, 1e-4, 5e-4, 1e-3]},
    "l2": {"type": "choice", "values": [0.0, 5e-5, 1e-4, 2.5e-4, 5e-4]},
    "augment_cutout": {"type": "choice", "values": [0, 8, 16]},
    "zero_init_residual": {"type": "bool"},
}


@recipe(data=data.cifar10, task="classification", hparams=RESNET_CIFAR_DEFAULTS, search_space=RESNET_SPACE)
def resnet20_cifar10(hp, info):
    """ResNet-20 (He et al. 2015, option A shortcuts) on CIFAR-10 with crop + flip augmentation, SGD, cosine LR.

    python -m zoo.train resnet20_cifar10
    """
    return _resnet(hp, info, 20)


@recipe(data=data.cifar10, task="classification", hparams={**RESNET_CIFAR_DEFAULTS, "epochs": 40},
        search_space=RESNET_SPACE)
def resnet56_cifar10(hp, info):
    """ResNet-56 (He et al. 2015, option A shortcuts) on CIFAR-10: the deeper sibling of resnet20_cifar10.

    python -m zoo.train resnet56_cifar10
    """
    return _resnet(hp, info, 56)
