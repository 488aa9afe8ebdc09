"""Helpers of the Keras parser's tests: random weights and the layer-by-layer comparison.

(A uniquely named module, so that it never clashes with other plugins' test helpers.)
"""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from snn_core.ann import forward
from snn_core.network import Network

#: Largest difference allowed between Keras and the IR (float32).
TOLERANCE = 1e-5


def randomize(model, seed: int = 0):
    """Give every weight a random, non-trivial value (BatchNormalization stats included)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for var in layer.weights:
            name = var.path.rsplit("/", 1)[-1]
            shape = tuple(var.shape)
            if name in ("gamma", "moving_variance"):
                values.append(rng.uniform(0.5, 1.5, shape))
            elif name in ("beta", "moving_mean", "bias"):
                values.append(rng.normal(0, 0.5, shape))
            else:
                fan_in = int(np.prod(shape[:-1])) or 1
                values.append(rng.normal(0, 1 / np.sqrt(fan_in), shape))
        if values:
            layer.set_weights([v.astype(np.float32) for v in values])
    return model


def _keras_output(model, layer_name: str):
    return model.get_layer(layer_name).output


def compare(net: Network, model, x: np.ndarray) -> dict[str, float]:
    """Max abs difference of every IR layer that equals a Keras layer's output.

    ``x`` is in the Keras model's own layout; IR outputs are channels-last.
    """
    channels_first = net.metadata.get("keras_data_format") == "channels_first"
    x_ir = np.moveaxis(x, 1, -1) if channels_first and x.ndim > 2 else x
    pairs = [
        (ir, k)
        for ir, k in net.metadata["keras_outputs"].items()
        if k is not None and ir != net.input.name
    ]
    assert pairs, "nothing to compare"
    probe = keras.Model(model.inputs[0], [_keras_output(model, k) for _, k in pairs])
    want = probe(x, training=False)
    want = want if isinstance(want, (list, tuple)) else [want]
    got = forward(net, x_ir, [ir for ir, _ in pairs])
    diffs = {}
    for (ir, _), w in zip(pairs, want, strict=True):
        w = np.asarray(w)
        if channels_first and w.ndim > 2:
            w = np.moveaxis(w, 1, -1)
        assert got[ir].shape == w.shape, (ir, got[ir].shape, w.shape)
        diffs[ir] = float(np.abs(got[ir] - w).max())
    return diffs
