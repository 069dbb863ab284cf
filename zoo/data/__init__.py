"""Datasets as `tf.data` pipelines, with what export and reports need to know about them.

A recipe's data function, `data(hp, data_dir=None, seed=0, files=None)`, returns a
`Datasets`: batched train / validation / test pipelines plus a `DataInfo` describing
the model input (kind, shape, dtype, value range, preprocessing) and the output (class
names). The same description goes into a run's `hparams.json` and an export's
`signature.json`.

Some pipelines derive files from the training split (a text vocabulary): they come
back in `Datasets.files`, training keeps them in the run folder, and everything that
later rebuilds the data for that run (resume, evaluate, export) passes them back as
`files`, so the run's inputs are encoded exactly as in training.
"""

from zoo.data.types import DataInfo, Datasets
from zoo.data.images import binarized_mnist, cifar10, fashion_mnist, mnist  # (for recipes)
from zoo.data.text import imdb_reviews
from zoo.data.dates import written_dates
from zoo.data.language import imdb_lm

__all__ = ["DataInfo", "Datasets", "mnist", "binarized_mnist", "fashion_mnist", "cifar10", "imdb_reviews",
           "written_dates", "imdb_lm"]
