"""Operation counts of the ANN, for comparison with the spiking network's synaptic operations."""

from __future__ import annotations

import numpy as np

from snn_core.network import (
    Add,
    Conv,
    ConvTranspose,
    Dense,
    GlobalAveragePool,
    Network,
    Pool,
)


def ann_macs(network: Network) -> dict[str, int]:
    """Multiply-accumulate operations per sample of each layer of the ANN.

    Dense and convolution layers count one MAC per weight use; average pooling one per
    summed element; Add one per summed element beyond the first input. Layers that only
    move data (reshape, padding, concatenation) and max pooling (comparisons) count zero.
    """
    macs: dict[str, int] = {}
    for layer in network:
        if isinstance(layer, Dense):
            n = layer.weights.size
        elif isinstance(layer, Conv):
            n = int(np.prod(layer.shape)) * int(np.prod(layer.kernel.shape[:-1]))
        elif isinstance(layer, ConvTranspose):
            in_shape = network[layer.inputs[0]].shape
            n = int(np.prod(in_shape[:-1])) * layer.kernel.size
        elif isinstance(layer, Pool) and layer.mode == "avg":
            n = int(np.prod(layer.shape)) * int(np.prod(layer.pool_size))
        elif isinstance(layer, GlobalAveragePool):
            n = int(np.prod(network[layer.inputs[0]].shape))
        elif isinstance(layer, Add):
            n = int(np.prod(layer.shape)) * (len(layer.inputs) - 1)
        else:
            continue
        macs[layer.name] = int(n)
    return macs
