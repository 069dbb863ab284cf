"""zoo: Keras 3 model recipes trained with one command, searched with keras-tuner, exported to TFLite.

    python -m zoo.train --list
    python -m zoo.train cnn_mnist

Importing `zoo` registers every built-in recipe and makes its model classes
known to `keras.saving.load_model`.
"""

__version__ = "0.1.0"

from zoo.registry import Recipe, get, list_recipes, recipe  # noqa: E402

__all__ = ["Recipe", "get", "list_recipes", "recipe", "__version__"]
