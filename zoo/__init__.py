"""zoo: Keras 3 model recipes trained with one command, searched with keras-tuner, exported to TFLite.

    python -m zoo.train --list
    python -m zoo.train cnn_mnist

Importing `zoo` registers every built-in recipe and makes its model classes
known to Keras, so `import zoo; keras.saving.load_model("runs/.../model.keras")`
works in a fresh interpreter. TensorFlow is imported here with its C++ start-up
notices held back (`zoo.runtime.startup_messages()`; the commands print them
with `--debug`).
"""

from zoo import runtime as _runtime
from zoo.version import __version__

_runtime.import_tensorflow()  # before Keras, so its start-up notices are held back

import zoo.models  # noqa: E402,F401  (registers the recipes and the model classes)
from zoo import judge as _judge  # noqa: E402
from zoo.registry import Recipe, get, list_recipes, recipe  # noqa: E402

_judge.install()  # the GAN task's judge is trained with a registered recipe

__all__ = ["Recipe", "get", "list_recipes", "recipe", "__version__"]
