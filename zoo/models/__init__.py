"""Model families. Each module holds one family's model classes and its registered recipes.

To add a family, write `zoo/models/<family>.py` (see docs/adding.md) and import it here.
"""

# importing registers the recipes (and `ensemble`'s model class, so a saved ensemble loads in a fresh process)
from zoo.models import (autoencoder, cnn, ensemble, gan, gpt, lm, mlp, resnet, rnn, seq2seq,  # noqa: F401
                        transformer, vae)
