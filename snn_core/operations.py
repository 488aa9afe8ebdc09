"""Operation counts: the ANN's multiply-accumulates, the SNN's synaptic fan-out, energy.

* :func:`fan_in_counts` — for one consumer layer, how many of its outputs each element of
  one of its inputs reaches (the true fan-out, exact for strided, dilated and padded
  convolutions and pools: a border pixel of a padded convolution reaches fewer outputs
  than a central one, and with stride 2 neighbouring pixels reach different numbers).
* :func:`fan_out_maps` — per layer, an array of the layer's shape: the synaptic
  operations one spike of that element causes (summed over its consumers; pass-through
  layers such as ``Reshape``, ``ZeroPad``, ``Concatenate`` and ``UpSample`` forward the
  cost of what follows them). A spiking simulator counts ``sum(spikes * map)``.
* :func:`ann_macs` — the ANN's multiply-accumulates per sample, per layer: the number of
  (input element, output element) connections actually used (products with zero padding
  are not counted).
* :func:`energy` — the energy estimate of ``results.json`` (Horowitz 2014, 45 nm).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from snn_core.network import (
    Add,
    Concatenate,
    Conv,
    ConvTranspose,
    Dense,
    GlobalAveragePool,
    Layer,
    Network,
    Pool,
    Reshape,
    UpSample,
    ZeroPad,
)

#: Energy of one 32-bit floating-point multiply-accumulate (3.7 pJ multiply + 0.9 pJ add)
#: at 45 nm, in joules (Horowitz, "Computing's energy problem", ISSCC 2014).
E_MAC_J = 4.6e-12
#: Energy of one 32-bit floating-point add (a synaptic accumulate) at 45 nm, in joules
#: (same source).
E_AC_J = 0.9e-12
#: Source of the constants, written into ``results.json``.
ENERGY_SOURCE = (
    "Horowitz, M. (2014). Computing's energy problem (and what we can do about it). "
    "ISSCC 2014, 10-14: 45 nm, float32 multiply 3.7 pJ + add 0.9 pJ = MAC 4.6 pJ; add 0.9 pJ"
)


def _axis_counts(n_in: int, n_out: int, kernel: int, stride: int, dilation: int, pad_lo: int):
    """How many (output, tap) pairs of a sliding window read each input position."""
    counts = np.zeros(pad_lo + n_in + (n_out * stride + kernel * dilation), np.int64)
    o = np.arange(n_out) * stride
    for j in range(kernel):
        np.add.at(counts, o + j * dilation, 1)
    return counts[pad_lo : pad_lo + n_in]


def _transpose_axis_counts(
    n_in: int, kernel: int, stride: int, dilation: int, crop_lo: int, end: int
) -> np.ndarray:
    """How many taps of a transposed convolution from each input land in the output."""
    i = np.arange(n_in)[:, None] * stride + np.arange(kernel)[None, :] * dilation
    return ((i >= crop_lo) & (i < end)).sum(axis=1)


def _outer(vectors: Sequence[np.ndarray]) -> np.ndarray:
    out = np.ones((), np.int64)
    for vec in vectors:
        out = np.multiply.outer(out, vec)
    return out


def fan_in_counts(consumer: Layer, network: Network, input_index: int = 0) -> np.ndarray:
    """Outputs of ``consumer`` reached by each element of its ``input_index``-th input.

    Returns an array of the input's shape (float64). Pass-through consumers (reshape,
    padding, concatenation, upsampling) are not handled here; see :func:`fan_out_maps`.
    """
    src = network[consumer.inputs[input_index]]
    shape = tuple(src.shape)
    if isinstance(consumer, Dense):
        return np.full(shape, float(consumer.weights.shape[1]))
    if isinstance(consumer, Conv | Pool):
        if isinstance(consumer, Conv):
            rank = consumer.rank
            size = consumer.kernel.shape[:rank]
            dilation = consumer.dilation
            per_channel = consumer.kernel.shape[-1] / consumer.groups
        else:
            rank = len(consumer.pool_size)
            size, dilation, per_channel = consumer.pool_size, (1,) * rank, 1.0
        vecs = [
            _axis_counts(
                shape[a],
                consumer.shape[a],
                size[a],
                consumer.strides[a],
                dilation[a],
                consumer.padding[a][0],
            )
            for a in range(rank)
        ]
        spatial = _outer(vecs).astype(np.float64) * per_channel
        return np.broadcast_to(spatial[..., None], shape).copy()
    if isinstance(consumer, ConvTranspose):
        rank = consumer.kernel.ndim - 2
        vecs = []
        for a in range(rank):
            k, s, d = consumer.kernel.shape[a], consumer.strides[a], consumer.dilation[a]
            full = (shape[a] - 1) * s + (k - 1) * d + 1
            end = min(full, full - consumer.padding[a][1] + consumer.output_padding[a])
            vecs.append(_transpose_axis_counts(shape[a], k, s, d, consumer.padding[a][0], end))
        spatial = _outer(vecs).astype(np.float64) * consumer.kernel.shape[-1]
        return np.broadcast_to(spatial[..., None], shape).copy()
    if isinstance(consumer, GlobalAveragePool | Add):
        return np.ones(shape)
    raise TypeError(f"fan_in_counts: layer {consumer.name!r} ({consumer.kind}) has no synapses")


def _through_pass(consumer: Layer, network: Network, index: int, cmap: np.ndarray) -> np.ndarray:
    """Map the fan-out of a pass-through layer's output back onto its ``index``-th input."""
    src_shape = tuple(network[consumer.inputs[index]].shape)
    if isinstance(consumer, Reshape):
        return cmap.reshape(src_shape)
    if isinstance(consumer, ZeroPad):
        sl = tuple(slice(a, a + n) for (a, _), n in zip(consumer.padding, src_shape, strict=False))
        return cmap[sl]
    if isinstance(consumer, Concatenate):
        axis = consumer.axis if consumer.axis >= 0 else len(src_shape) + consumer.axis
        start = sum(network[i].shape[axis] for i in consumer.inputs[:index])
        return np.take(cmap, np.arange(start, start + src_shape[axis]), axis=axis)
    if isinstance(consumer, UpSample):
        out = cmap
        for axis, f in enumerate(consumer.size):
            if f != 1:
                new = (*out.shape[:axis], src_shape[axis], f, *out.shape[axis + 1 :])
                out = out.reshape(new).sum(axis=axis + 1)
        return out
    raise TypeError(f"layer {consumer.name!r} ({consumer.kind}) is not a pass-through layer")


PASS_THROUGH = (Reshape, ZeroPad, Concatenate, UpSample)


def fan_out_maps(network: Network) -> dict[str, np.ndarray]:
    """Synaptic operations one spike of each element of each layer causes.

    Returns
    -------
    dict
        Layer name -> float64 array of the layer's shape. A spike reaching a pass-through
        layer costs what its image costs in that layer's consumers; a max pool counts one
        operation per window the spike enters (a comparison).
    """
    out: dict[str, np.ndarray] = {}
    for layer in reversed(network.layers):
        total = np.zeros(tuple(layer.shape))
        for c in network.consumers(layer.name):
            for index, name in enumerate(c.inputs):
                if name != layer.name:
                    continue
                if isinstance(c, PASS_THROUGH):
                    total = total + _through_pass(c, network, index, out[c.name])
                else:
                    total = total + fan_in_counts(c, network, index)
        out[layer.name] = total
    return out


def ann_macs(network: Network) -> dict[str, int]:
    """Multiply-accumulate operations per sample of each layer of the ANN.

    Dense, convolution and average-pooling layers count one MAC per connection actually
    used (an input element times a weight into an output element; taps that fall on zero
    padding are not counted); ``GlobalAveragePool`` one per input element; ``Add`` one per
    summed element beyond the first input. Layers that only move data (reshape, padding,
    concatenation, upsampling) and max pooling (comparisons) count zero.
    """
    macs: dict[str, int] = {}
    for layer in network:
        if isinstance(layer, Add):
            n = int(np.prod(layer.shape)) * (len(layer.inputs) - 1)
        elif isinstance(layer, Dense | Conv | ConvTranspose | GlobalAveragePool) or (
            isinstance(layer, Pool) and layer.mode == "avg"
        ):
            n = int(np.rint(fan_in_counts(layer, network).sum()))
        else:
            continue
        macs[layer.name] = n
    return macs


def energy(
    ann_macs_per_sample: float,
    snn_synaptic_ops: Sequence[float] | np.ndarray,
    snn_neuron_ops: Sequence[float] | np.ndarray | None = None,
    *,
    e_mac: float = E_MAC_J,
    e_ac: float = E_AC_J,
) -> dict[str, object]:
    """The ``energy`` block of ``results.json``.

    The ANN costs ``ann_macs * e_mac``; the SNN ``(synaptic ops + neuron ops) * e_ac``: a
    synaptic operation is one accumulate of a weight into a membrane, and a neuron state
    update (add the current, compare with the threshold) is counted as one accumulate too.
    Memory traffic, which dominates real hardware, is ignored by both.
    """
    syn = np.asarray(snn_synaptic_ops, np.float64)
    neu = np.zeros_like(syn) if snn_neuron_ops is None else np.asarray(snn_neuron_ops, np.float64)
    return {
        "ann_j_per_sample": float(ann_macs_per_sample) * e_mac,
        "snn_j_per_sample": ((syn + neu) * e_ac).tolist(),
        "e_mac_j": e_mac,
        "e_ac_j": e_ac,
        "source": ENERGY_SOURCE,
    }
