"""Benchmarks: every speed and accuracy target of the issues, measured on real data by one script each, run from
the zoo checkout as modules (the shared helpers are in `benchmarks.common`):

    python -m benchmarks                      # every recipe: train, evaluate, export, check its targets
    python -m benchmarks.train cnn_mnist      # one script: see its --help

Each writes benchmarks/results/NAME.json and .md and its table between the `results:NAME` markers of the docs
(docs/results.md), naming the machine it ran on.
"""
