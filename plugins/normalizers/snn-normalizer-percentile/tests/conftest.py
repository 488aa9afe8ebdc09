"""Fixtures: small Keras networks trained on sklearn's digits, and their IR built by hand.

Trained weights are cached under ``/work/main/.cache/snn-normalizer-percentile`` (or
``$SNN_TEST_CACHE``), keyed by a hash of the recipe, so that only the first run trains.
The IR is assembled from the Keras weights here (not by the Keras parser, written in
parallel) so that these tests depend on nothing but the core.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from snn_core.network import (
    Add,
    Concatenate,
    Conv,
    Dense,
    GlobalAveragePool,
    InputLayer,
    Network,
    Pool,
    Reshape,
)

CACHE = (
    Path(os.environ.get("SNN_TEST_CACHE", Path(__file__).resolve().parents[4] / ".cache"))
    / "snn-normalizer-percentile"
)

#: Architectures, as data (they are part of the cache key).
RECIPES = {
    "cnn": {
        "layers": [
            ["conv", "c1", 8, 3, "same"],
            ["avgpool", "p1"],
            ["conv", "c2", 16, 3, "valid"],
            ["flatten", "fl"],
            ["dense", "out", 10],
        ],
        "epochs": 12,
        "seed": 3,
    },
    "residual": {
        # c1 -> c2 ; add(c1, c2) relu ; c3(input) 1x1 ; concat(add, c3) ; gap ; dense
        "layers": "residual-v1",
        "epochs": 12,
        "seed": 4,
    },
}


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 1,797 8x8 digits scaled to [0, 1], shape (N, 8, 8, 1), and labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    return x, data.target.astype(np.int64)


def _keras_model(name: str):
    import keras

    recipe = RECIPES[name]
    keras.utils.set_random_seed(recipe["seed"])
    inp = keras.Input((8, 8, 1), name="input")
    if name == "cnn":
        h = inp
        for spec in recipe["layers"]:
            if spec[0] == "conv":
                h = keras.layers.Conv2D(
                    spec[2], spec[3], padding=spec[4], activation="relu", name=spec[1]
                )(h)
            elif spec[0] == "avgpool":
                h = keras.layers.AveragePooling2D(2, name=spec[1])(h)
            elif spec[0] == "flatten":
                h = keras.layers.Flatten(name=spec[1])(h)
            else:
                h = keras.layers.Dense(spec[2], activation="softmax", name=spec[1])(h)
    else:
        c1 = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inp)
        c2 = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(c1)
        add = keras.layers.Activation("relu", name="add_relu")(
            keras.layers.Add(name="add")([c1, c2])
        )
        c3 = keras.layers.Conv2D(4, 1, activation="relu", name="c3")(inp)
        cat = keras.layers.Concatenate(name="cat")([add, c3])
        gap = keras.layers.GlobalAveragePooling2D(name="gap")(cat)
        h = keras.layers.Dense(10, activation="softmax", name="out")(gap)
    return keras.Model(inp, h)


@functools.cache
def trained_weights(name: str) -> dict[str, list[np.ndarray]]:
    """Layer name -> Keras weights of the trained model ``name`` (cached on disk)."""
    from importlib.metadata import version

    key = hashlib.sha256(
        json.dumps([RECIPES[name], name, version("keras")], sort_keys=True).encode()
    ).hexdigest()[:16]
    path = CACHE / f"{name}-{key}.npz"
    if path.is_file():
        with np.load(path) as f:
            out: dict[str, list[np.ndarray]] = {}
            for k in sorted(f.files, key=lambda s: int(s.rsplit("__", 1)[1])):
                out.setdefault(k.rsplit("__", 1)[0], []).append(f[k])
            return out
    import keras

    model = _keras_model(name)
    x, y = digits()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=RECIPES[name]["epochs"], batch_size=64, verbose=0, shuffle=True)
    weights = {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}
    CACHE.mkdir(parents=True, exist_ok=True)
    arrays = {f"{k}__{i}": w for k, ws in weights.items() for i, w in enumerate(ws)}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return weights


def _conv(name, src, shape, w, pad, act="relu"):
    return Conv(
        name=name,
        inputs=(src,),
        shape=shape,
        kernel=w[0],
        bias=w[1],
        strides=(1, 1),
        padding=((pad, pad), (pad, pad)),
        dilation=(1, 1),
        activation=act,
    )


def ir_network(name: str) -> Network:
    """The IR of the trained model ``name``, assembled from its Keras weights."""
    w = trained_weights(name)
    inp = InputLayer(name="input", shape=(8, 8, 1))
    if name == "cnn":
        layers = [
            inp,
            _conv("c1", "input", (8, 8, 8), w["c1"], 1),
            Pool(
                name="p1",
                inputs=("c1",),
                shape=(4, 4, 8),
                mode="avg",
                pool_size=(2, 2),
                strides=(2, 2),
                padding=((0, 0), (0, 0)),
            ),
            _conv("c2", "p1", (2, 2, 16), w["c2"], 0),
            Reshape(name="fl", inputs=("c2",), shape=(64,)),
            Dense(
                name="out",
                inputs=("fl",),
                shape=(10,),
                weights=w["out"][0],
                bias=w["out"][1],
                activation="softmax",
            ),
        ]
    else:
        layers = [
            inp,
            _conv("c1", "input", (8, 8, 8), w["c1"], 1),
            _conv("c2", "c1", (8, 8, 8), w["c2"], 1),
            Add(name="add", inputs=("c1", "c2"), shape=(8, 8, 8), activation="relu"),
            _conv("c3", "input", (8, 8, 4), w["c3"], 0),
            Concatenate(name="cat", inputs=("add", "c3"), shape=(8, 8, 12)),
            GlobalAveragePool(name="gap", inputs=("cat",), shape=(12,)),
            Dense(
                name="out",
                inputs=("gap",),
                shape=(10,),
                weights=w["out"][0],
                bias=w["out"][1],
                activation="softmax",
            ),
        ]
    return Network.from_layers(layers)


def keras_predictions(name: str, x: np.ndarray) -> np.ndarray:
    """Outputs of the trained Keras model (to check the hand-made IR)."""
    model = _keras_model(name)
    for layer in model.layers:
        if layer.name in trained_weights(name):
            layer.set_weights(trained_weights(name)[layer.name])
    return np.asarray(model.predict(x, verbose=0))


@pytest.fixture(scope="session")
def cnn() -> Network:
    """The trained CNN: conv, avg pool, conv, flatten, dense softmax."""
    return ir_network("cnn")


@pytest.fixture(scope="session")
def residual() -> Network:
    """The trained residual net: add(c1, c2(c1)), concat with c3, GAP, dense softmax."""
    return ir_network("residual")


@pytest.fixture(scope="session")
def keras_reference():
    """``f(name, x)``: outputs of the trained Keras model ``name``."""
    return keras_predictions
