"""Hyperparameter search over a recipe's plain-data search space with keras-tuner.

    python -m tuning cnn_mnist --tuner bayesian --max-trials 10 --epochs 2

Imports `zoo`; `zoo` never imports this package (nor keras_tuner).
"""
