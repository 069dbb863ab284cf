"""Run one trial in its own process (used by `python -m tuning`; not a user command).

    python -m tuning.trial SPEC.json RESULT.json

TensorFlow keeps memory for every traced tf.function until the process ends (about
10 MB per model on TF 2.21, even after `keras.backend.clear_session()`), so a long
search in one process grows trial after trial. The search process therefore runs
each random/Bayesian trial here and reads back its history: its own memory stays flat.
"""

from __future__ import annotations

import json
import sys


def main(argv=None) -> int:
    spec_path, result_path = (argv if argv is not None else sys.argv[1:])[:2]
    spec = json.loads(open(spec_path, encoding="utf-8").read())

    from zoo import registry, runs, runtime  # first: imports TensorFlow with its start-up notices held back

    import keras_tuner as kt  # noqa: I001
    import tensorflow as tf

    from tuning.search import RecipeHyperModel

    tf.get_logger().setLevel("ERROR")
    runtime.set_precision(spec["precision"])
    recipe = registry.get(spec["recipe"])
    hypermodel = RecipeHyperModel(recipe, fixed=spec["values"], data_dir=spec["data_dir"], seed=spec["seed"],
                                  verbose=spec["verbose"], reseed=spec["reseed"])
    hp = kt.HyperParameters()
    history = hypermodel.fit(hp, hypermodel.build(hp))
    runs.write_json(result_path, {"history": {k: [float(v) for v in vs] for k, vs in history.history.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
