"""Model families. Each module holds one family's model classes and its registered recipes.

To add a family, write `zoo/models/<family>.py` (see README, "Adding a model") and import it here.
"""

from zoo.models import cnn, mlp, resnet, rnn, transformer  # noqa: F401  (importing registers the recipes)
