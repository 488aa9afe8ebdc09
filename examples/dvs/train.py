"""Train the DVS example's CNN on accumulated event frames of the training recordings.

The recordings (``make_dataset.py``) are read with the ``aedat`` reader and the same
options as ``experiment.toml`` (read from it), and each sample becomes the frame the ANN
sees in the experiment: the reader's :meth:`accumulate` (the mean of the sample's frames).
Writes ``data/model.keras`` and prints the Keras accuracy on the test recordings.

Usage::

    python examples/dvs/make_dataset.py
    python examples/dvs/train.py [--force] [--epochs N]
    snn run examples/dvs/experiment.toml
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def open_split(split: str, data: Path = DATA):
    """The ``aedat`` data set of ``<data>/<split>`` with the experiment's reader options."""
    from snn_dataset_aedat import AedatReader

    table = tomllib.loads((HERE / "experiment.toml").read_text())["dataset"]
    options = {k: v for k, v in table.items() if k not in ("reader", "norm_path")}
    options["path"] = data / split
    for key in ("chip_size", "frame_size"):
        if key in options:
            options[key] = tuple(options[key])
    return AedatReader(AedatReader.Options(**options)).open(HERE)


def accumulated(split: str, data: Path = DATA) -> tuple[np.ndarray, np.ndarray]:
    """All samples of a split as the ANN sees them, and their labels."""
    ds = open_split(split, data)
    xs, ys = [], []
    for x, y in ds.test_batches(np.arange(ds.num_samples), 200):
        xs.append(ds.accumulate(x))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def build_model(shape: tuple[int, ...], seed: int):
    """Conv 16 3x3 relu, avg pool, conv 32 3x3 relu, avg pool, flatten, dense 10 softmax."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape),
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
    parser.add_argument("--force", action="store_true", help="train even if the model exists")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data", type=Path, default=DATA, help="folder of train/ and test/ (and the model)"
    )
    args = parser.parse_args(argv)
    data: Path = args.data
    if (data / "model.keras").is_file() and not args.force:
        print(f"{data / 'model.keras'} exists; use --force to train again")
        return 0
    if not (data / "train").is_dir():
        print("no recordings: run examples/dvs/make_dataset.py first", file=sys.stderr)
        return 1
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    t0 = time.perf_counter()
    x_train, y_train = accumulated("train", data)
    x_test, y_test = accumulated("test", data)
    print(f"read {len(x_train)} + {len(x_test)} recordings in {time.perf_counter() - t0:.1f} s")
    model = build_model(x_train.shape[1:], args.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    t0 = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, shuffle=True, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    model.save(data / "model.keras")
    print(f"trained in {time.perf_counter() - t0:.1f} s; wrote {data / 'model.keras'}")
    print(f"Keras test accuracy on accumulated frames: {accuracy:.4f} ({len(x_test)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
