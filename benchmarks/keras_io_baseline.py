"""Reference point for the cnn_mnist speed target: keras-io's "Simple MNIST convnet".

Re-implements that example's published recipe (Conv32-Pool-Conv64-Pool-Dropout(0.5)-Dense,
Adam, batch 128, 15 epochs, validation_split=0.1, float32 numpy input scaled to 0..1)
and times `model.fit` on this machine, so `benchmarks.train` can compare against it.

    python -m benchmarks.keras_io_baseline [--epochs 15] [--json out.json]
"""

import argparse
import json
import time


def build_model():
    """keras-io's "Simple MNIST convnet", as published: float32 inputs scaled to 0..1, one-hot labels."""
    import keras

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", default=None, help="write the result here")
    args = p.parse_args()

    import keras

    from zoo.data.images import MNIST
    from zoo.runtime import describe_machine

    (x_train, y_train, x_test, y_test), where = MNIST.load_arrays(args.data_dir)
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    keras.utils.set_random_seed(0)
    model = build_model()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, validation_split=0.1, verbose=2)
    seconds = time.perf_counter() - start
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    result = {
        "recipe": "keras-io mnist_convnet (reference)",
        "epochs": args.epochs,
        "test_accuracy": float(acc),
        "test_loss": float(loss),
        "train_seconds": seconds,
        "train_examples_per_second": 54000 * args.epochs / seconds,
        "data": where,
        "machine": describe_machine(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
