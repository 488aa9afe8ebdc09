"""Reference (analog) evaluation of the network IR with numpy.

This module *defines* what every layer of :mod:`snn_core.network` computes: parsers are
tested against it, normalizers stream data through it, and simulators approximate it.
Everything runs in float32 on batches with the batch axis first and channels last.

Convolutions are computed as one BLAS matrix product over windows taken with
:func:`numpy.lib.stride_tricks.sliding_window_view` (im2col without Python loops), so a
small CNN handles tens of thousands of MNIST images in seconds.

Example
-------
>>> import numpy as np
>>> from snn_core.network import Dense, InputLayer, Network
>>> net = Network.from_layers([
...     InputLayer(name="input", shape=(2,)),
...     Dense(name="fc", inputs=("input",), shape=(1,), weights=[[1.0], [-1.0]], bias=[0.5],
...           activation="relu"),
... ])
>>> forward(net, np.array([[2.0, 1.0], [0.0, 3.0]], "f4"))["fc"].ravel().tolist()
[1.5, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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

__all__ = ["apply_activation", "forward", "layer_forward", "predict"]


def apply_activation(z: np.ndarray, activation: str) -> np.ndarray:
    """Apply an IR activation to ``z``.

    Parameters
    ----------
    z
        Pre-activations.
    activation
        ``"linear"`` (identity), ``"relu"`` or ``"softmax"`` (over the last axis).

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape (``z`` itself for ``"linear"``).
    """
    if activation == "linear":
        return z
    if activation == "relu":
        return np.maximum(z, np.float32(0))
    if activation == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32, copy=False)
    raise UnsupportedLayerError(
        f"activation {activation!r} is not one of 'linear', 'relu', 'softmax'"
    )


# -- helpers --------------------------------------------------------------------------


def _pad_spatial(x: np.ndarray, padding: Sequence[tuple[int, int]], value: float = 0.0):
    """Pad the spatial axes (between batch and channels) of ``x``."""
    if not any(a or b for a, b in padding):
        return x
    widths = [(0, 0), *[(int(a), int(b)) for a, b in padding], (0, 0)]
    return np.pad(x, widths, constant_values=value)


def _windows(
    x: np.ndarray, size: Sequence[int], strides: Sequence[int], dilation: Sequence[int]
) -> np.ndarray:
    """Strided, dilated windows of the spatial axes of ``x`` ``(N, *S, C)``.

    Returns a view of shape ``(N, *out_spatial, C, *size)``.
    """
    rank = len(size)
    extent = [d * (k - 1) + 1 for k, d in zip(size, dilation, strict=True)]
    for axis, e in enumerate(extent):
        if x.shape[1 + axis] < e:
            raise ValueError(
                f"window of extent {e} does not fit spatial axis {axis} of size {x.shape[1 + axis]}"
            )
    view = sliding_window_view(x, extent, axis=tuple(range(1, 1 + rank)))
    index = (
        slice(None),
        *(slice(None, None, s) for s in strides),
        slice(None),
        *(slice(None, None, d) for d in dilation),
    )
    return view[index]


def _conv(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    groups: int,
) -> np.ndarray:
    """Grouped N-d convolution (cross-correlation) of channels-last ``x``, without bias."""
    rank = kernel.ndim - 2
    size = kernel.shape[:rank]
    cin_g, cout = kernel.shape[rank], kernel.shape[rank + 1]
    if x.shape[-1] != cin_g * groups:
        raise ValueError(
            f"input has {x.shape[-1]} channels, the kernel expects {cin_g} x {groups} groups"
        )
    x = _pad_spatial(x, padding)
    # windows as (N, *O, *K, C): channels innermost keeps the im2col copy contiguous
    win = np.moveaxis(_windows(x, size, strides, dilation), 1 + rank, -1)
    n, out_spatial = win.shape[0], win.shape[1 : 1 + rank]
    taps = int(np.prod(size))
    rows = n * int(np.prod(out_spatial))
    if groups == 1:
        out = win.reshape(rows, taps * cin_g) @ kernel.reshape(taps * cin_g, cout)
    else:
        cout_g = cout // groups
        cols = win.reshape(rows, taps, groups, cin_g).transpose(2, 0, 1, 3)
        k = kernel.reshape(taps, cin_g, groups, cout_g).transpose(2, 0, 1, 3)
        out = np.matmul(
            cols.reshape(groups, rows, taps * cin_g), k.reshape(groups, taps * cin_g, cout_g)
        )  # (groups, rows, cout_g)
        out = out.transpose(1, 0, 2)
    return out.reshape(n, *out_spatial, cout)


def _conv_transpose(layer: ConvTranspose, x: np.ndarray) -> np.ndarray:
    """Transposed convolution as a plain convolution of the zero-stuffed input."""
    rank = layer.kernel.ndim - 2
    size = layer.kernel.shape[:rank]
    n, spatial, cin = x.shape[0], x.shape[1 : 1 + rank], x.shape[-1]
    # insert (stride - 1) zeros between input elements
    stuffed_shape = [(s - 1) * st + 1 for s, st in zip(spatial, layer.strides, strict=True)]
    stuffed = np.zeros((n, *stuffed_shape, cin), np.float32)
    stuffed[(slice(None), *(slice(None, None, st) for st in layer.strides))] = x
    # full output = conv of the stuffed input padded by the dilated kernel extent - 1,
    # with the kernel flipped in space and its channel axes swapped; then crop
    # ``padding`` (before, after) and extend by ``output_padding`` at the end.
    pads = []
    for k, d, (before, after), op in zip(
        size, layer.dilation, layer.padding, layer.output_padding, strict=True
    ):
        full = d * (k - 1)
        pads.append((full - before, full - after + op))
    neg = [(max(-a, 0), max(-b, 0)) for a, b in pads]
    pads = [(max(a, 0), max(b, 0)) for a, b in pads]
    stuffed = _pad_spatial(stuffed, pads)
    if any(a or b for a, b in neg):
        crop = tuple(slice(a, stuffed.shape[1 + i] - b) for i, (a, b) in enumerate(neg))
        stuffed = stuffed[(slice(None), *crop)]
    flipped = layer.kernel[tuple(slice(None, None, -1) for _ in range(rank))]
    kernel = np.ascontiguousarray(flipped)  # (kh, kw, cin, cout)
    return _conv(stuffed, kernel, (1,) * rank, [(0, 0)] * rank, layer.dilation, 1)


def _taps(x: np.ndarray, size: Sequence[int], strides: Sequence[int], out: Sequence[int]):
    """Yield, for each offset in the window, the strided slice of ``x`` it sees."""
    for offset in np.ndindex(*size):
        yield x[
            (
                slice(None),
                *(
                    slice(o, o + (n - 1) * s + 1, s)
                    for o, n, s in zip(offset, out, strides, strict=True)
                ),
            )
        ]


def _pool(layer: Pool, x: np.ndarray) -> np.ndarray:
    # one elementwise pass per window offset: fast, and no window copies
    out = layer.shape[:-1]
    if layer.mode == "max":
        padded = _pad_spatial(x, layer.padding, value=-np.inf)
        taps = _taps(padded, layer.pool_size, layer.strides, out)
        result = next(taps).copy()
        for tap in taps:
            np.maximum(result, tap, out=result)
        return result
    taps = _taps(_pad_spatial(x, layer.padding), layer.pool_size, layer.strides, out)
    total = next(taps).copy()
    for tap in taps:
        total += tap
    if layer.count_include_pad or not any(a or b for a, b in layer.padding):
        return total / np.float32(np.prod(layer.pool_size))
    # divide by the number of real (non-padded) elements in each window
    mask = _pad_spatial(np.ones((1, *x.shape[1:-1], 1), np.float32), layer.padding)
    counts = sum(_taps(mask, layer.pool_size, layer.strides, out))
    return total / counts


def _upsample(layer: UpSample, x: np.ndarray) -> np.ndarray:
    for axis, factor in enumerate(layer.size):
        x = np.repeat(x, factor, axis=1 + axis)
    return x


def _concat_axis(layer: Concatenate) -> int:
    return layer.axis + 1 if layer.axis >= 0 else layer.axis


_KERNELS: dict[type[Layer], Callable[[Layer, list[np.ndarray]], np.ndarray]] = {
    InputLayer: lambda layer, xs: xs[0],
    Dense: lambda layer, xs: xs[0] @ layer.weights + layer.bias,
    Conv: lambda layer, xs: (
        _conv(xs[0], layer.kernel, layer.strides, layer.padding, layer.dilation, layer.groups)
        + layer.bias
    ),
    ConvTranspose: lambda layer, xs: _conv_transpose(layer, xs[0]) + layer.bias,
    Pool: lambda layer, xs: _pool(layer, xs[0]),
    GlobalAveragePool: lambda layer, xs: xs[0].mean(
        axis=tuple(range(1, xs[0].ndim - 1)), dtype=np.float32
    ),
    UpSample: lambda layer, xs: _upsample(layer, xs[0]),
    ZeroPad: lambda layer, xs: _pad_spatial(xs[0], layer.padding),
    Reshape: lambda layer, xs: xs[0].reshape(xs[0].shape[0], *layer.shape),
    Concatenate: lambda layer, xs: np.concatenate(xs, axis=_concat_axis(layer)),
    Add: lambda layer, xs: _sum(xs),
}


def _sum(xs: list[np.ndarray]) -> np.ndarray:
    out = xs[0].copy()
    for x in xs[1:]:
        out += x
    return out


def layer_forward(
    layer: Layer, inputs: list[np.ndarray], *, pre_activation: bool = False
) -> np.ndarray:
    """Compute one layer on a batch.

    Parameters
    ----------
    layer
        Any layer of :mod:`snn_core.network`.
    inputs
        The outputs of ``layer.inputs``, in order, each with the batch axis first.
    pre_activation
        Skip the layer's activation (return the pre-activation).

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(batch, *layer.shape)``.

    Raises
    ------
    UnsupportedLayerError
        If the layer class has no reference semantics here.
    """
    kernel = _KERNELS.get(type(layer))
    if kernel is None:
        raise UnsupportedLayerError(
            f"layer {layer.name!r}: no reference evaluation for kind {layer.kind!r}; "
            f"known kinds: {sorted(cls.kind for cls in _KERNELS)}"
        )
    xs = [np.asarray(x, dtype=np.float32) for x in inputs]
    z = np.asarray(kernel(layer, xs), dtype=np.float32)
    if z.shape[1:] != tuple(layer.shape):
        raise ValueError(
            f"layer {layer.name!r} ({layer.kind}) computed shape {z.shape[1:]}, "
            f"but declares {tuple(layer.shape)}"
        )
    return z if pre_activation else apply_activation(z, layer.activation)


def forward(
    network: Network,
    x: np.ndarray,
    outputs: Sequence[str] | None = None,
    *,
    pre_activation: bool = False,
) -> dict[str, np.ndarray]:
    """Run the whole network on one batch.

    Parameters
    ----------
    network
        The network.
    x
        Input batch, ``(batch, *network.input.shape)``.
    outputs
        Names of the layers whose outputs to return (default: the output layer).
    pre_activation
        Return the named layers' values *before* their activation. Propagation to later
        layers always uses activated values, so this only changes what is returned.

    Returns
    -------
    dict
        Layer name -> float32 array ``(batch, *layer.shape)``.

    Notes
    -----
    Intermediate arrays are dropped as soon as no later layer reads them, so memory
    stays bounded by the widest "cut" through the graph.
    """
    wanted = list(outputs) if outputs is not None else [network.output.name]
    names = {layer.name for layer in network.layers}
    missing = [w for w in wanted if w not in names]
    if missing:
        raise KeyError(f"no layers named {missing}; layers are {sorted(names)}")
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1:] != tuple(network.input.shape):
        raise ValueError(
            f"input batch has sample shape {x.shape[1:]}, the network expects "
            f"{tuple(network.input.shape)} (channels last)"
        )
    remaining: dict[str, int] = {}
    for layer in network.layers:
        for src in layer.inputs:
            remaining[src] = remaining.get(src, 0) + 1
    # the network may compute layers nothing downstream needs: stop at the last wanted one
    last = max(i for i, layer in enumerate(network.layers) if layer.name in wanted)
    values: dict[str, np.ndarray] = {}
    result: dict[str, np.ndarray] = {}
    for layer in network.layers[: last + 1]:
        ins = [x] if isinstance(layer, InputLayer) else [values[s] for s in layer.inputs]
        z = layer_forward(layer, ins, pre_activation=True)
        a = apply_activation(z, layer.activation)
        for src in layer.inputs:
            remaining[src] -= 1
            if remaining[src] == 0:
                values.pop(src, None)
        if remaining.get(layer.name, 0):
            values[layer.name] = a
        if layer.name in wanted:
            result[layer.name] = z if pre_activation else a
    return {name: result[name] for name in wanted}


def predict(network: Network, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Output-layer activations for ``x``, computed in batches of ``batch_size``."""
    out_name = network.output.name
    parts = [
        forward(network, x[i : i + batch_size])[out_name] for i in range(0, len(x), batch_size)
    ]
    if not parts:
        return np.zeros((0, *network.output.shape), np.float32)
    return np.concatenate(parts)
