"""The two benchmark models, trained on full MNIST with a fixed seed and cached.

(a) ``avgpool``: conv16-avgpool-conv32-avgpool-dense10.
(b) ``bn_maxpool``: conv32-BN-ReLU-maxpool-conv64-BN-ReLU-maxpool-dense128-dropout-dense10.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / "results" / "models"
EPOCHS = {"avgpool": 4, "bn_maxpool": 4}


def build(name: str):
    import keras
    from keras import layers

    inp = keras.Input((28, 28, 1))
    if name == "avgpool":
        x = layers.Conv2D(16, 3, activation="relu")(inp)
        x = layers.AveragePooling2D(2)(x)
        x = layers.Conv2D(32, 3, activation="relu")(x)
        x = layers.AveragePooling2D(2)(x)
        x = layers.Flatten()(x)
        out = layers.Dense(10, activation="softmax")(x)
    elif name == "bn_maxpool":
        x = layers.Conv2D(32, 3)(inp)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(64, 3)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(128, activation="relu")(x)
        x = layers.Dropout(0.3)(x)
        out = layers.Dense(10, activation="softmax")(x)
    else:
        raise KeyError(f"unknown benchmark model {name!r}; use avgpool or bn_maxpool")
    return keras.Model(inp, out, name=name)


def trained(name: str, x_train: np.ndarray, y_train: np.ndarray, seed: int = 1) -> Path:
    """Train ``name`` (or reuse the cached file for the same recipe); return its path."""
    recipe = inspect.getsource(build) + f"{name}{EPOCHS[name]}{seed}{len(x_train)}"
    key = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    path = CACHE / f"{name}-{key}.keras"
    if path.is_file():
        return path
    import keras

    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    keras.utils.set_random_seed(seed)
    model = build(name)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x_train, y_train, batch_size=128, epochs=EPOCHS[name], verbose=2, validation_split=0.0
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.keras")
    model.save(tmp)
    tmp.replace(path)
    return path


if __name__ == "__main__":
    import sys

    from mnist_data import load_mnist

    xtr, ytr, xte, yte = load_mnist()
    for n in sys.argv[1:] or list(EPOCHS):
        p = trained(n, xtr, ytr)
        import keras

        acc = keras.models.load_model(p).evaluate(xte, yte, verbose=0)[1]
        print(f"{n}: {p.name} test accuracy {acc:.4f}")
