"""The analog forward pass of a parsed network with the simulator's TensorFlow ops.

Used to check the ops against :func:`snn_core.ann.forward` and as the yardstick of the
simulator's speed (one spiking time step against one forward pass).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from snn_core.network import InputLayer, Network
from snn_sim_ini.ops import activation_op, layer_op


def build_forward(
    network: Network, outputs: Sequence[str] | None = None
) -> Callable[[tf.Tensor], tf.Tensor | dict[str, tf.Tensor]]:
    """Return a ``tf.function`` computing the network's forward pass.

    Parameters
    ----------
    network
        The parsed (or normalized) network.
    outputs
        Layer names whose (activated) outputs to return as a dict; by default the function
        returns the output layer's activations as one tensor.

    Returns
    -------
    callable
        ``f(x)`` for a float32 batch ``(batch, *network.input.shape)``.

    Example
    -------
    >>> f = build_forward(net)                       # doctest: +SKIP
    >>> probabilities = f(tf.constant(x)).numpy()     # doctest: +SKIP
    """
    ops = {layer.name: layer_op(layer, network) for layer in network}
    acts = {layer.name: activation_op(layer.activation) for layer in network}
    wanted = list(outputs) if outputs is not None else None

    @tf.function
    def forward(x: tf.Tensor) -> tf.Tensor | dict[str, tf.Tensor]:
        values: dict[str, tf.Tensor] = {}
        for layer in network:
            ins = [x] if isinstance(layer, InputLayer) else [values[s] for s in layer.inputs]
            values[layer.name] = acts[layer.name](ops[layer.name](ins))
        if wanted is None:
            return values[network.output.name]
        return {name: values[name] for name in wanted}

    return forward
