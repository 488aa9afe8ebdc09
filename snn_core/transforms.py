"""Changes the convert stage makes to the IR before a simulator sees it (``[convert]``)."""

from __future__ import annotations

from snn_core.config import Convert
from snn_core.network import Layer, Network, Pool


def apply_conversion(network: Network, options: Convert) -> Network:
    """Return ``network`` with the ``[convert]`` options applied.

    ``softmax_to_relu`` replaces every softmax activation by ReLU (the argmax of the
    output is unchanged unless all of a sample's logits are negative); ``max2avg_pool``
    turns max pooling into average pooling.
    """
    changed: list[Layer] = []
    for layer in network:
        new = layer
        if options.softmax_to_relu and new.activation == "softmax":
            new = new.evolve(activation="relu")
        if options.max2avg_pool and isinstance(new, Pool) and new.mode == "max":
            new = new.evolve(mode="avg")
        if new is not layer:
            changed.append(new)
    return network.replace(*changed) if changed else network
