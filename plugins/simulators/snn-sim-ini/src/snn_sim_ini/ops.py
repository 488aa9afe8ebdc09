"""TensorFlow ops for the layers of the network IR (imports TensorFlow).

:func:`layer_op` turns one IR layer into a function of its input tensors that computes
the layer's *pre-activation* output, bias included, with the semantics of
:func:`snn_core.ann.layer_forward`. Both the analog forward pass (:mod:`snn_sim_ini.ann`)
and the spiking network (:mod:`snn_sim_ini.engine`) use these ops, so a spiking layer's
input current is exactly the ANN layer's linear map applied to the incoming spikes.

One-dimensional layers (``(L, C)`` maps) run as two-dimensional ones with a height of 1.
Padding is always explicit; a convolution with both strides and dilation above 1 uses a
kernel dilated with zeros (TensorFlow has no kernel for that combination).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from snn_core.errors import UnsupportedLayerError
from snn_core.network import (
    Add,
    Concatenate,
    Conv,
    ConvTranspose,
    Dense,
    GlobalAveragePool,
    InputLayer,
    Layer,
    Network,
    Pool,
    Reshape,
    UpSample,
    ZeroPad,
)

#: A layer as a function of its input tensors (batch axis first, channels last).
LayerOp = Callable[[Sequence[tf.Tensor]], tf.Tensor]


def _const(a: np.ndarray) -> tf.Tensor:
    return tf.constant(np.ascontiguousarray(a, dtype=np.float32))


def _as_2d(rank: int, fn: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor]:
    """Run a 2-D op on a 1-D map ``(B, L, C)`` by inserting a unit height axis."""
    if rank == 2:
        return fn
    return lambda x: tf.squeeze(fn(tf.expand_dims(x, 1)), axis=1)


def _pairs_2d(rank: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    pairs = [[int(a), int(b)] for a, b in pairs]
    return pairs if rank == 2 else [[0, 0], *pairs]


def _ints_2d(rank: int, values: Sequence[int], fill: int = 1) -> list[int]:
    values = [int(v) for v in values]
    return values if rank == 2 else [fill, *values]


def dilate_kernel(kernel: np.ndarray, dilation: Sequence[int]) -> np.ndarray:
    """Insert ``dilation - 1`` zeros between the taps of each spatial axis of ``kernel``."""
    rank = len(dilation)
    size = kernel.shape[:rank]
    shape = [d * (k - 1) + 1 for k, d in zip(size, dilation, strict=True)]
    out = np.zeros((*shape, *kernel.shape[rank:]), np.float32)
    out[tuple(slice(None, None, d) for d in dilation)] = kernel
    return out


def _check_rank(layer: Layer, rank: int) -> None:
    if rank not in (1, 2):
        raise UnsupportedLayerError(
            f"layer {layer.name!r} ({layer.kind}): {rank} spatial axes; the ini simulator "
            "supports 1-D and 2-D maps"
        )


def _dense(layer: Dense, network: Network) -> LayerOp:
    w, b = _const(layer.weights), _const(layer.bias)
    if len(network[layer.inputs[0]].shape) == 1:
        return lambda xs: tf.nn.bias_add(tf.matmul(xs[0], w), b)
    return lambda xs: tf.nn.bias_add(tf.tensordot(xs[0], w, axes=1), b)


def _conv(layer: Conv, network: Network) -> LayerOp:
    rank = layer.rank
    _check_rank(layer, rank)
    kernel = layer.kernel
    dilation = list(layer.dilation)
    if any(s > 1 for s in layer.strides) and any(d > 1 for d in dilation):
        kernel, dilation = dilate_kernel(kernel, dilation), [1] * rank
    if rank == 1:
        kernel = kernel[None]
    strides = _ints_2d(rank, layer.strides)
    dilations = _ints_2d(rank, dilation)
    padding = [[0, 0], *_pairs_2d(rank, layer.padding), [0, 0]]
    if not any(a or b for a, b in padding):
        padding = "VALID"
    cin = kernel.shape[2] * layer.groups
    b = _const(layer.bias)
    if layer.groups > 1 and layer.groups == cin and strides[0] == strides[1]:
        mult = kernel.shape[3] // cin
        k = _const(kernel.reshape(*kernel.shape[:2], cin, mult))

        # explicit padding goes in its own op: grappler's layout pass aborts the process
        # on some CPUs when it meets a depthwise convolution with explicit padding
        pad, dw_padding = (None, padding) if padding == "VALID" else (padding, "VALID")

        def depthwise(x: tf.Tensor) -> tf.Tensor:
            if pad is not None:
                x = tf.pad(x, pad)
            y = tf.nn.depthwise_conv2d(
                x, k, strides=[1, *strides, 1], padding=dw_padding, dilations=dilations
            )
            return tf.nn.bias_add(y, b)

        fn = depthwise
    else:
        # one conv per group: TensorFlow's fused CPU conv (which grappler substitutes for
        # conv + bias + relu) rejects grouped kernels
        g = layer.groups
        cout_g = kernel.shape[3] // g
        ks = [_const(kernel[..., i * cout_g : (i + 1) * cout_g]) for i in range(g)]

        def conv(x: tf.Tensor) -> tf.Tensor:
            xs = tf.split(x, g, axis=-1) if g > 1 else [x]
            ys = [
                tf.nn.conv2d(xi, ki, strides=strides, padding=padding, dilations=dilations)
                for xi, ki in zip(xs, ks, strict=True)
            ]
            return tf.nn.bias_add(ys[0] if g == 1 else tf.concat(ys, -1), b)

        fn = conv
    fn2 = _as_2d(rank, fn)
    return lambda xs: fn2(xs[0])


def _conv_transpose(layer: ConvTranspose, network: Network) -> LayerOp:
    rank = layer.kernel.ndim - 2
    _check_rank(layer, rank)
    kernel = layer.kernel
    if any(d > 1 for d in layer.dilation):
        kernel = dilate_kernel(kernel, layer.dilation)
    if rank == 1:
        kernel = kernel[None]
    in_shape = network[layer.inputs[0]].shape
    spatial = _ints_2d(rank, in_shape[:-1])
    strides = _ints_2d(rank, layer.strides)
    size = kernel.shape[:2]
    crops = _pairs_2d(rank, layer.padding)
    out_pad = _ints_2d(rank, layer.output_padding, fill=0)
    full = [(n - 1) * s + k for n, s, k in zip(spatial, strides, size, strict=True)]
    ends = [f - c[1] + op for f, c, op in zip(full, crops, out_pad, strict=True)]
    # the full output ends at ``full``; what output_padding adds beyond it is zero
    extra = [max(0, e - f) for e, f in zip(ends, full, strict=True)]
    # (kh, kw, in, out) -> TensorFlow's (kh, kw, out, in)
    k = _const(np.transpose(kernel, (0, 1, 3, 2)))
    b = _const(layer.bias)
    cout = kernel.shape[3]

    def op(x: tf.Tensor) -> tf.Tensor:
        shape = tf.stack([tf.shape(x)[0], full[0], full[1], cout])
        y = tf.nn.conv2d_transpose(x, k, shape, strides=strides, padding="VALID")
        y = y[:, crops[0][0] : ends[0], crops[1][0] : ends[1], :]
        if any(extra):
            y = tf.pad(y, [[0, 0], [0, extra[0]], [0, extra[1]], [0, 0]])
        return tf.nn.bias_add(y, b)

    fn = _as_2d(rank, op)
    return lambda xs: fn(xs[0])


def pool_counts(layer: Pool, in_shape: Sequence[int]) -> np.ndarray | None:
    """Real (non-padded) elements in each average-pooling window, or None if all are full."""
    if layer.count_include_pad or not any(a or b for a, b in layer.padding):
        return None
    rank = len(layer.pool_size)
    ones = np.ones((1, *in_shape[:-1], 1), np.float32)
    ones = np.pad(ones, [(0, 0), *layer.padding, (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(
        ones, layer.pool_size, axis=tuple(range(1, 1 + rank))
    )
    windows = windows[(slice(None), *(slice(None, None, s) for s in layer.strides))]
    return windows.sum(axis=tuple(range(-rank, 0)))[0]


def _pool(layer: Pool, network: Network) -> LayerOp:
    rank = len(layer.pool_size)
    _check_rank(layer, rank)
    size = _ints_2d(rank, layer.pool_size)
    strides = _ints_2d(rank, layer.strides)
    pads = [[0, 0], *_pairs_2d(rank, layer.padding), [0, 0]]
    padded = any(a or b for a, b in pads)
    if layer.mode == "max":

        def maxpool(x: tf.Tensor) -> tf.Tensor:
            if padded:
                x = tf.pad(x, pads, constant_values=-np.inf)
            return tf.nn.max_pool2d(x, size, strides, "VALID")

        fn = maxpool
    else:
        counts = pool_counts(layer, network[layer.inputs[0]].shape)
        scale = None
        if counts is not None:
            scale = _const(float(np.prod(layer.pool_size)) / counts[None])
            if rank == 1:
                scale = tf.expand_dims(scale, 1)

        def avgpool(x: tf.Tensor) -> tf.Tensor:
            if padded:
                x = tf.pad(x, pads)
            y = tf.nn.avg_pool2d(x, size, strides, "VALID")
            return y if scale is None else y * scale

        fn = avgpool
    fn2 = _as_2d(rank, fn)
    return lambda xs: fn2(xs[0])


def _global_average(layer: GlobalAveragePool, network: Network) -> LayerOp:
    axes = list(range(1, len(network[layer.inputs[0]].shape)))
    return lambda xs: tf.reduce_mean(xs[0], axis=axes)


def _upsample(layer: UpSample, network: Network) -> LayerOp:
    def op(xs: Sequence[tf.Tensor]) -> tf.Tensor:
        x = xs[0]
        for axis, factor in enumerate(layer.size):
            if factor != 1:
                x = tf.repeat(x, factor, axis=1 + axis)
        return x

    return op


def _zero_pad(layer: ZeroPad, network: Network) -> LayerOp:
    pads = [[0, 0], *[[int(a), int(b)] for a, b in layer.padding], [0, 0]]
    return lambda xs: tf.pad(xs[0], pads)


def _reshape(layer: Reshape, network: Network) -> LayerOp:
    shape = [-1, *layer.shape]
    return lambda xs: tf.reshape(xs[0], shape)


def _concatenate(layer: Concatenate, network: Network) -> LayerOp:
    axis = layer.axis + 1 if layer.axis >= 0 else layer.axis
    return lambda xs: tf.concat(list(xs), axis=axis)


def _add(layer: Add, network: Network) -> LayerOp:
    return lambda xs: tf.add_n(list(xs))


_BUILDERS: dict[type[Layer], Callable[[Layer, Network], LayerOp]] = {
    InputLayer: lambda layer, network: lambda xs: xs[0],
    Dense: _dense,
    Conv: _conv,
    ConvTranspose: _conv_transpose,
    Pool: _pool,
    GlobalAveragePool: _global_average,
    UpSample: _upsample,
    ZeroPad: _zero_pad,
    Reshape: _reshape,
    Concatenate: _concatenate,
    Add: _add,
}

#: Layer kinds :func:`layer_op` converts.
SUPPORTED_KINDS = frozenset(cls.kind for cls in _BUILDERS)


def layer_op(layer: Layer, network: Network) -> LayerOp:
    """The pre-activation output of ``layer`` as a function of its input tensors.

    Parameters
    ----------
    layer
        A layer of ``network``.
    network
        The network (for the shapes of the layer's inputs).

    Raises
    ------
    UnsupportedLayerError
        For a layer kind (or a rank) without a TensorFlow implementation here.
    """
    builder = _BUILDERS.get(type(layer))
    if builder is None:
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: the ini simulator cannot run kind {layer.kind!r}; "
            f"supported kinds: {sorted(SUPPORTED_KINDS)}"
        )
    return builder(layer, network)


def activation_op(activation: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """The TensorFlow function of an IR activation."""
    return {
        "linear": lambda z: z,
        "relu": tf.nn.relu,
        "softmax": tf.nn.softmax,
    }[activation]
