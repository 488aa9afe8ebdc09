"""Which activations share a scale factor: the network's *scale nodes*.

Normalization divides the output of every weighted layer (Dense, Conv, ConvTranspose) by
a factor lambda, and multiplies the weights of the layers that read it by the same
factor, so that a ReLU network computes the same function up to those factors. A
weightless layer cannot absorb a factor, so its output carries its input's factors.

This module assigns every *channel* of every layer's output (the last axis; for a 1-D
output every unit) a scale node:

* the network input has the fixed node :data:`INPUT_NODE` (scale 1: the input is not
  rescaled);
* a weighted layer creates fresh nodes: one per output channel with ``channelwise``,
  else one for the whole layer; an *output* layer of the network always gets one node,
  since per-class scales would change which class wins;
* Pool, GlobalAveragePool, UpSample and ZeroPad keep their input's channel nodes;
* Reshape (Flatten) maps a row-major feature ``f`` to its input channel ``f % C_in`` and its
  output channel ``f % C_out``; input channels that land in the same output channel are
  merged;
* **grouping rule**: the inputs of an Add are summed element by element, so they must
  carry equal scales: their nodes are merged channel by channel (union-find), and the
  group's lambda is the largest percentile of its members (the weighted layers feeding
  it and the Add's own output). A Concatenate along channels concatenates its inputs'
  nodes; without ``channelwise`` it also merges them all, so that each layer keeps a
  single scale. A Concatenate along another axis merges its inputs channel by channel.
  A group that contains the network input keeps scale 1.

Example
-------
For ``input -> conv_a -> add(conv_a, conv_b(conv_a))`` the nodes of ``conv_a`` and
``conv_b`` merge, so both get ``max(lambda_a, lambda_b, lambda_add)``.
"""

from __future__ import annotations

import attrs
import numpy as np

from snn_core.errors import UnsupportedLayerError
from snn_core.network import (
    Add,
    Concatenate,
    Conv,
    ConvTranspose,
    Dense,
    GlobalAveragePool,
    InputLayer,
    Network,
    Pool,
    Reshape,
    UpSample,
    ZeroPad,
)

#: Layers whose weights absorb scale factors.
WEIGHTED = (Dense, Conv, ConvTranspose)
#: Layers that pass their input's channels through unchanged.
PASS_THROUGH = (Pool, GlobalAveragePool, UpSample, ZeroPad)
#: The node of the network input; its scale is always 1.
INPUT_NODE = 0


class _UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self, count: int) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + count))
        return np.arange(start, start + count)

    def find(self, node: int) -> int:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(int(a)), self.find(int(b))
        if ra != rb:
            # the smaller id wins, so that a group containing INPUT_NODE has root 0
            lo, hi = min(ra, rb), max(ra, rb)
            self.parent[hi] = lo


@attrs.frozen
class ScalePlan:
    """The scale nodes of a network.

    Attributes
    ----------
    nodes
        Layer name -> root node of each output channel, ``(channels,)`` int array.
    probes
        Layers whose activations are measured (weighted layers and Adds), in order.
    schedule_index
        Probe name -> index of the weighted layer it belongs to for the percentile
        schedule (an Add counts as the last weighted layer before it).
    num_nodes
        Number of node ids (roots are a subset of ``range(num_nodes)``).
    """

    nodes: dict[str, np.ndarray]
    probes: tuple[str, ...]
    schedule_index: dict[str, int]
    num_nodes: int


def _channels(shape: tuple[int, ...]) -> int:
    return int(shape[-1]) if shape else 1


def _reshape_nodes(
    uf: _UnionFind, in_nodes: np.ndarray, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
) -> np.ndarray:
    c_in, c_out = _channels(in_shape), _channels(out_shape)
    if c_in == c_out:
        return in_nodes
    f = np.arange(int(np.prod(out_shape)))
    out = in_nodes[np.arange(c_out) % c_in]  # output channel c holds feature c first
    pairs = np.unique(np.stack([f % c_out, f % c_in], axis=1), axis=0)
    for c_o, c_i in pairs:
        uf.union(out[c_o], in_nodes[c_i])
    return out


def build_plan(network: Network, channelwise: bool) -> ScalePlan:
    """Assign scale nodes to every layer's output channels (see the module docstring).

    Raises
    ------
    UnsupportedLayerError
        For a layer kind whose effect on scales is unknown.
    """
    uf = _UnionFind()
    uf.add(1)  # INPUT_NODE
    nodes: dict[str, np.ndarray] = {}
    probes: list[str] = []
    schedule: dict[str, int] = {}
    weighted_seen = 0
    for layer in network.layers:
        c = _channels(layer.shape)
        if isinstance(layer, InputLayer):
            nodes[layer.name] = np.full(c, INPUT_NODE)
            continue
        ins = [nodes[src] for src in layer.inputs]
        if isinstance(layer, WEIGHTED):
            per_channel = channelwise and layer.name not in network.outputs
            fresh = uf.add(c if per_channel else 1)
            nodes[layer.name] = fresh if per_channel else np.full(c, fresh[0])
            probes.append(layer.name)
            schedule[layer.name] = weighted_seen
            weighted_seen += 1
        elif isinstance(layer, PASS_THROUGH):
            nodes[layer.name] = ins[0]
        elif isinstance(layer, Reshape):
            in_shape = network[layer.inputs[0]].shape
            nodes[layer.name] = _reshape_nodes(uf, ins[0], in_shape, layer.shape)
        elif isinstance(layer, Add):
            for other in ins[1:]:
                for a, b in zip(ins[0], other, strict=True):
                    uf.union(a, b)
            nodes[layer.name] = ins[0]
            probes.append(layer.name)
            schedule[layer.name] = max(weighted_seen - 1, 0)
        elif isinstance(layer, Concatenate):
            axis = layer.axis if layer.axis >= 0 else len(layer.shape) + layer.axis
            if axis == len(layer.shape) - 1:
                nodes[layer.name] = np.concatenate(ins)
                if not channelwise:
                    for node in nodes[layer.name][1:]:
                        uf.union(nodes[layer.name][0], node)
            else:
                for other in ins[1:]:
                    for a, b in zip(ins[0], other, strict=True):
                        uf.union(a, b)
                nodes[layer.name] = ins[0]
        else:
            raise UnsupportedLayerError(
                f"layer {layer.name!r}: the percentile normalizer does not know how kind "
                f"{layer.kind!r} transforms scales; known kinds: Dense, Conv, ConvTranspose, "
                "Pool, GlobalAveragePool, UpSample, ZeroPad, Reshape, Concatenate, Add"
            )
    roots = {name: np.array([uf.find(int(n)) for n in ns]) for name, ns in nodes.items()}
    return ScalePlan(roots, tuple(probes), schedule, len(uf.parent))
