"""Changes the convert stage makes to the IR before a simulator sees it (``[convert]``)."""

from __future__ import annotations

import numpy as np

from snn_core.config import Convert, fixed_point_format
from snn_core.network import Layer, Network, Pool

#: Parameter arrays that hold synaptic weights, by layer attribute.
WEIGHT_KEYS = ("weights", "kernel")


def binarize(w: np.ndarray) -> np.ndarray:
    """``sign(w) * mean(|w|)``: binary weights with the layer's mean magnitude."""
    w = np.asarray(w, np.float32)
    return (np.sign(w) * np.abs(w).mean()).astype(np.float32)


def quantize_fixed_point(x: np.ndarray, m: int, f: int) -> np.ndarray:
    """Round to the nearest multiple of ``2**-f`` and clip to ``[-2**m, 2**m - 2**-f]``."""
    step = 2.0**-f
    q = np.round(np.asarray(x, np.float64) / step) * step
    return np.clip(q, -(2.0**m), 2.0**m - step).astype(np.float32)


def apply_conversion(network: Network, options: Convert) -> Network:
    """Return ``network`` with the ``[convert]`` options applied.

    ``softmax_to_relu`` replaces every softmax activation by ReLU (the argmax of the
    output is unchanged unless all of a sample's logits are negative); ``max2avg_pool``
    turns max pooling into average pooling; ``binarize_weights`` replaces the weights of
    each layer by :func:`binarize`; ``quantize_weights`` rounds weights and biases to
    fixed point (:func:`quantize_fixed_point`), after binarization if both are set.
    """
    fixed = fixed_point_format(options.quantize_weights)
    changed: list[Layer] = []
    for layer in network:
        new = layer
        if options.softmax_to_relu and new.activation == "softmax":
            new = new.evolve(activation="relu")
        if options.max2avg_pool and isinstance(new, Pool) and new.mode == "max":
            new = new.evolve(mode="avg")
        arrays = new.arrays()
        updates = {}
        for key in WEIGHT_KEYS:
            if key in arrays:
                w = arrays[key]
                if options.binarize_weights:
                    w = binarize(w)
                if fixed is not None:
                    w = quantize_fixed_point(w, *fixed)
                if w is not arrays[key]:
                    updates[key] = w
        if fixed is not None and "bias" in arrays:
            updates["bias"] = quantize_fixed_point(arrays["bias"], *fixed)
        if updates:
            new = new.evolve(**updates)
        if new is not layer:
            changed.append(new)
    return network.replace(*changed) if changed else network
