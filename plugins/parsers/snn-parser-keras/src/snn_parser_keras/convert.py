"""Conversion of a loaded Keras model's graph into the snn IR.

The functional graph is walked in topological order. Each Keras output tensor becomes a
:class:`_Ref`: the IR layer that holds its values, plus transforms still to be folded into
the layers that read it. Layers that do not change the function at inference (Dropout)
become aliases; activations are absorbed into the layer that produced their input;
BatchNormalization is folded into the layer before it (Dense / Conv / ConvTranspose, or
each branch of a channel Concatenate) or, where that is impossible, into the layers after
it when that is exact (Dense, or Conv without padding). Anything else is an
:class:`~snn_core.errors.UnsupportedLayerError`.

``network.metadata["keras_outputs"]`` maps each IR layer name to the Keras layer whose
output it equals (the last absorbed Activation/BatchNormalization/Dropout), which is how
the tests compare the two layer by layer.
"""

from __future__ import annotations

import math
from typing import Any

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
    Layer,
    Network,
    Pool,
    Reshape,
    UpSample,
    ZeroPad,
)

#: Keras layer classes the parser converts.
SUPPORTED_LAYERS = (
    "InputLayer",
    "Dense",
    "Conv1D",
    "Conv2D",
    "DepthwiseConv2D",
    "Conv2DTranspose",
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "Reshape",
    "Flatten",
    "Concatenate",
    "Add",
    "BatchNormalization",
    "Activation",
    "ReLU",
    "Softmax",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianDropout",
    "GaussianNoise",
    "ActivityRegularization",
)

#: Layers that are the identity at inference time.
_IDENTITY = {
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "GaussianDropout",
    "GaussianNoise",
    "ActivityRegularization",
}

_ACTIVATIONS = {"linear": "linear", "relu": "relu", "softmax": "softmax"}


@attrs.frozen
class _Ref:
    """What a Keras tensor is in the IR."""

    #: The IR layer whose output holds the tensor's values (up to the transforms below).
    name: str
    #: ``"cf"`` if the Keras tensor is channels-first (the IR always holds channels-last).
    layout: str = "cl"
    #: Pending per-channel (or per flat element) ``x * scale + shift`` (a BatchNormalization
    #: that must be folded into the layers that read this tensor).
    affine: tuple[np.ndarray, np.ndarray] | None = None
    #: Pending order of a channels-first Flatten: Keras flat element ``i`` is IR flat
    #: element ``perm[i]``.
    perm: np.ndarray | None = None


def _unsupported(layer: Any, reason: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(
        f"Keras layer {layer.name!r} ({type(layer).__name__}): {reason}. Supported layer "
        f"classes: {', '.join(SUPPORTED_LAYERS)}"
    )


def _numpy(variable: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)


def _key(tensor: Any) -> tuple[int, int, int]:
    op, node_index, tensor_index = tensor._keras_history
    return (id(op), node_index, tensor_index)


def _sample_shape(layer: Any, tensor: Any) -> tuple[int, ...]:
    shape = tuple(tensor.shape[1:])
    if any(d is None for d in shape):
        raise _unsupported(layer, f"its output shape {shape} is not fully known")
    return tuple(int(d) for d in shape)


def _to_ir_shape(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    if layout == "cf" and len(shape) >= 2:
        return (*shape[1:], shape[0])
    return shape


def _functional(model: Any) -> Any:
    import keras

    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise UnsupportedLayerError(
                f"Sequential model {model.name!r} has no known input shape; build it with "
                "an Input layer (keras.Input(shape=...)) before saving"
            )
        return fn
    if not hasattr(model, "_nodes_by_depth"):
        raise UnsupportedLayerError(
            f"model {model.name!r} ({type(model).__name__}) is a subclassed model without a "
            "functional graph; save a Sequential or functional model instead"
        )
    return model


_SPATIAL_WITH_FORMAT = (
    "Conv1D",
    "Conv2D",
    "DepthwiseConv2D",
    "Conv2DTranspose",
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "UpSampling2D",
    "ZeroPadding2D",
)


def input_layout(model: Any) -> str:
    """``"cf"`` if the model's spatial layers are channels-first, else ``"cl"``."""
    fn = _functional(model)
    for op in fn.operations:
        if (
            type(op).__name__ in _SPATIAL_WITH_FORMAT
            and getattr(op, "data_format", "channels_last") == "channels_first"
        ):
            return "cf"
    return "cl"


def _activation_name(layer: Any, fn: Any) -> str:
    name = getattr(fn, "__name__", None) or str(fn)
    if name not in _ACTIVATIONS:
        raise _unsupported(
            layer, f"activation {name!r} is not supported (only {sorted(_ACTIVATIONS)})"
        )
    return _ACTIVATIONS[name]


def _same_padding(
    size: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...], dilation
) -> tuple[tuple[int, int], ...]:
    """TensorFlow's ``"same"`` padding: the odd extra element goes after."""
    pads = []
    for n, k, s, d in zip(size, kernel, strides, dilation, strict=True):
        out = math.ceil(n / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def _padding(layer: Any, mode: str, size, kernel, strides, dilation):
    mode = mode.lower()
    if mode == "valid":
        return tuple((0, 0) for _ in size)
    if mode == "same":
        return _same_padding(tuple(size), tuple(kernel), tuple(strides), tuple(dilation))
    if mode == "causal":
        return tuple(((k - 1) * d, 0) for k, d in zip(kernel, dilation, strict=True))
    raise _unsupported(layer, f"padding {mode!r} is not supported")


class _Converter:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.fn = _functional(model)
        self.layout = input_layout(model)
        self.layers: dict[str, Layer] = {}
        self.keras_outputs: dict[str, str | None] = {}
        self.refs: dict[tuple[int, int, int], _Ref] = {}
        self.uses: dict[str, int] = {}
        self.consumers: dict[tuple[int, int, int], int] = {}
        for nodes in self.fn._nodes_by_depth.values():
            for node in nodes:
                for t in node.input_tensors:
                    self.consumers[_key(t)] = self.consumers.get(_key(t), 0) + 1
        for t in self.fn.outputs:
            self.consumers[_key(t)] = self.consumers.get(_key(t), 0) + 1

    # -- bookkeeping ------------------------------------------------------------------
    def _emit(self, layer: Layer, keras_name: str, out: Any) -> _Ref:
        if layer.name in self.layers:
            raise UnsupportedLayerError(f"two IR layers would be named {layer.name!r}")
        self.layers[layer.name] = layer
        self.keras_outputs[layer.name] = keras_name
        self.uses[layer.name] = self.consumers.get(_key(out), 0)
        return _Ref(layer.name, self._out_layout(out))

    def _alias(self, ref: _Ref, out: Any, **changes: Any) -> _Ref:
        # the node consumed one use of ``ref``; its output's consumers now read ref.name
        self.uses[ref.name] += self.consumers.get(_key(out), 0) - 1
        return attrs.evolve(ref, **changes)

    def _out_layout(self, out: Any) -> str:
        return self.layout if len(out.shape) > 2 else "cl"

    def _plain(self, layer: Any, ref: _Ref) -> _Ref:
        if ref.affine is not None:
            raise _unsupported(
                layer,
                "it reads the output of a BatchNormalization that cannot be folded into the "
                "layer before it, and it is not a Dense or an unpadded convolution that the "
                "normalization could be folded into",
            )
        if ref.perm is not None:
            raise _unsupported(
                layer,
                "it reads a channels-first Flatten, which can only be folded into a Dense",
            )
        return ref

    def _check_format(self, layer: Any, ref: _Ref) -> None:
        fmt = getattr(layer, "data_format", "channels_last")
        want = "cf" if fmt == "channels_first" else "cl"
        if ref.layout != want:
            raise _unsupported(
                layer,
                f"data_format={fmt!r}, but its input is "
                f"{'channels_first' if ref.layout == 'cf' else 'channels_last'}; mixing data "
                "formats in one model is not supported",
            )

    # -- the walk ---------------------------------------------------------------------
    def run(self) -> Network:
        import keras

        if len(self.fn.inputs) != 1:
            raise UnsupportedLayerError(
                f"model {self.model.name!r} has {len(self.fn.inputs)} inputs; snn networks "
                "have exactly one"
            )
        names_seen: dict[str, int] = {}
        for depth in sorted(self.fn._nodes_by_depth, reverse=True):
            for node in self.fn._nodes_by_depth[depth]:
                op = node.operation
                if not isinstance(op, keras.layers.Layer):
                    raise UnsupportedLayerError(
                        f"Keras operation {op.name!r} ({type(op).__module__}."
                        f"{type(op).__name__}) is a raw op, not a layer; use the matching "
                        f"layer class instead. Supported layer classes: "
                        f"{', '.join(SUPPORTED_LAYERS)}"
                    )
                if isinstance(op, keras.Model):
                    raise _unsupported(op, "nested models are not supported; build the model flat")
                count = names_seen.get(op.name, 0)
                names_seen[op.name] = count + 1
                name = op.name if count == 0 else f"{op.name}_{count}"
                cls = type(op).__name__
                handler = getattr(self, f"_do_{cls}", None)
                if handler is None or cls not in SUPPORTED_LAYERS:
                    raise _unsupported(op, "this layer class is not supported")
                if len(node.output_tensors) != 1:
                    raise _unsupported(op, "layers with several outputs are not supported")
                out = node.output_tensors[0]
                ins = [self.refs[_key(t)] for t in node.input_tensors]
                self.refs[_key(out)] = handler(op, name, ins, out)
        outputs = []
        for t in self.fn.outputs:
            ref = self.refs[_key(t)]
            if ref.affine is not None or ref.perm is not None:
                op = t._keras_history[0]
                raise _unsupported(
                    op,
                    "a model output that is a BatchNormalization (or channels-first "
                    "Flatten) that cannot be folded into the layer before it",
                )
            if ref.name not in outputs:
                outputs.append(ref.name)
        metadata = {"keras_outputs": dict(self.keras_outputs)}
        if self.layout == "cf":
            metadata["keras_data_format"] = "channels_first"
        return Network.from_layers(self.layers.values(), outputs, metadata)

    # -- handlers: one per Keras class ------------------------------------------------
    def _do_InputLayer(self, layer, name, ins, out):
        shape = _sample_shape(layer, out)
        ref_layout = self._out_layout(out)
        return self._emit(
            InputLayer(name=name, shape=_to_ir_shape(shape, ref_layout)), layer.name, out
        )

    def _identity(self, layer, name, ins, out):
        return self._alias(ins[0], out)

    _do_Dropout = _identity
    _do_SpatialDropout1D = _identity
    _do_SpatialDropout2D = _identity
    _do_GaussianDropout = _identity
    _do_GaussianNoise = _identity
    _do_ActivityRegularization = _identity

    def _absorb_activation(self, layer, ins, out, activation: str):
        ref = self._plain(layer, ins[0])
        if activation == "linear":
            return self._alias(ref, out)
        if activation == "softmax" and ref.layout == "cf":
            raise _unsupported(layer, "softmax over a channels-first tensor is not supported")
        prev = self.layers[ref.name]
        if isinstance(prev, InputLayer) or prev.activation != "linear":
            raise _unsupported(
                layer,
                f"a standalone {activation} can only follow a layer without an activation "
                f"(it follows {prev.kind} {prev.name!r} [{prev.activation}])",
            )
        if self.uses[ref.name] != 1:
            raise _unsupported(
                layer,
                f"the output of {prev.name!r} is also used without the {activation}, so the "
                "activation cannot be absorbed into it",
            )
        self.layers[ref.name] = prev.evolve(activation=activation)
        self.keras_outputs[ref.name] = layer.name
        return self._alias(ref, out)

    def _do_Activation(self, layer, name, ins, out):
        return self._absorb_activation(layer, ins, out, _activation_name(layer, layer.activation))

    def _do_ReLU(self, layer, name, ins, out):
        for attr, neutral in (("max_value", None), ("negative_slope", 0.0), ("threshold", 0.0)):
            value = getattr(layer, attr, neutral)
            if value is not None:
                value = float(np.asarray(value))
            if value != neutral:
                raise _unsupported(layer, f"{attr}={value} is not supported (only a plain ReLU is)")
        return self._absorb_activation(layer, ins, out, "relu")

    def _do_Softmax(self, layer, name, ins, out):
        axis = layer.axis
        rank = len(out.shape)
        if axis not in (-1, rank - 1):
            raise _unsupported(layer, f"softmax over axis {axis} (only the last axis)")
        return self._absorb_activation(layer, ins, out, "softmax")

    def _do_Dense(self, layer, name, ins, out):
        ref = ins[0]
        if ref.layout == "cf" and len(self.layers[ref.name].shape) > 1:
            raise _unsupported(layer, "a Dense on a channels-first feature map is not supported")
        weights = _numpy(layer.kernel)
        bias = _numpy(layer.bias) if layer.bias is not None else np.zeros(weights.shape[1])
        if ref.perm is not None:
            ir_weights = np.empty_like(weights)
            ir_weights[ref.perm] = weights
            weights = ir_weights
        if ref.affine is not None:
            scale, shift = ref.affine
            bias = bias + shift @ weights
            weights = scale[:, None] * weights
        activation = _activation_name(layer, layer.activation)
        dense = Dense(
            name=name,
            inputs=(ref.name,),
            shape=_sample_shape(layer, out),
            weights=weights,
            bias=bias,
            activation=activation,
        )
        return self._emit(dense, layer.name, out)

    def _conv(self, layer, name, ins, out, kernel: np.ndarray, groups: int):
        ref = ins[0]
        self._check_format(layer, ref)
        if ref.perm is not None:
            self._plain(layer, ref)
        rank = kernel.ndim - 2
        in_shape = self.layers[ref.name].shape
        strides = tuple(layer.strides)
        dilation = tuple(layer.dilation_rate)
        padding = _padding(
            layer, layer.padding, in_shape[:rank], kernel.shape[:rank], strides, dilation
        )
        bias = _numpy(layer.bias) if layer.bias is not None else np.zeros(kernel.shape[-1])
        if ref.affine is not None:
            if any(a or b for a, b in padding):
                raise _unsupported(
                    layer,
                    "a BatchNormalization before a padded convolution cannot be folded "
                    "exactly (the zero padding would be normalized too); fold it into the "
                    "layer before it or use padding='valid'",
                )
            scale, shift = ref.affine
            cin_g, cout = kernel.shape[-2:]
            group_of_out = np.arange(cout) // (cout // groups)
            channel = group_of_out[None, :] * cin_g + np.arange(cin_g)[:, None]  # (cin_g, cout)
            bias = bias + (kernel * shift[channel]).sum(axis=tuple(range(rank + 1)))
            kernel = kernel * scale[channel]
        conv = Conv(
            name=name,
            inputs=(ref.name,),
            shape=_to_ir_shape(_sample_shape(layer, out), ref.layout),
            kernel=kernel,
            bias=bias,
            strides=strides,
            padding=padding,
            dilation=dilation,
            groups=groups,
            activation=_activation_name(layer, layer.activation),
        )
        return self._emit(conv, layer.name, out)

    def _do_Conv1D(self, layer, name, ins, out):
        return self._conv(layer, name, ins, out, _numpy(layer.kernel), int(layer.groups))

    _do_Conv2D = _do_Conv1D

    def _do_DepthwiseConv2D(self, layer, name, ins, out):
        kernel = _numpy(layer.kernel)  # (kh, kw, cin, multiplier)
        cin = kernel.shape[-2]
        kernel = kernel.reshape(*kernel.shape[:-2], 1, cin * kernel.shape[-1])
        return self._conv(layer, name, ins, out, kernel, cin)

    def _do_Conv2DTranspose(self, layer, name, ins, out):
        ref = self._plain(layer, ins[0])
        self._check_format(layer, ref)
        kernel = _numpy(layer.kernel).transpose(0, 1, 3, 2)  # Keras: (kh, kw, out, in)
        in_shape = self.layers[ref.name].shape[:2]
        out_shape = _to_ir_shape(_sample_shape(layer, out), ref.layout)
        padding, output_padding = [], []
        for n, o, k, s, d in zip(
            in_shape,
            out_shape[:2],
            kernel.shape[:2],
            layer.strides,
            layer.dilation_rate,
            strict=True,
        ):
            full = (n - 1) * s + (k - 1) * d + 1
            # TensorFlow crops as the forward "same"/"valid" convolution of the output pads
            before = max(full - o, 0) // 2 if layer.padding == "same" else 0
            if o <= full - before:
                padding.append((before, full - before - o))
                output_padding.append(0)
            else:
                padding.append((before, 0))
                output_padding.append(o - (full - before))
        bias = _numpy(layer.bias) if layer.bias is not None else np.zeros(kernel.shape[-1])
        conv = ConvTranspose(
            name=name,
            inputs=(ref.name,),
            shape=out_shape,
            kernel=kernel,
            bias=bias,
            strides=tuple(layer.strides),
            padding=padding,
            output_padding=output_padding,
            dilation=tuple(layer.dilation_rate),
            activation=_activation_name(layer, layer.activation),
        )
        return self._emit(conv, layer.name, out)

    def _pool(self, layer, name, ins, out, mode: str):
        ref = self._plain(layer, ins[0])
        self._check_format(layer, ref)
        size = tuple(layer.pool_size)
        strides = tuple(layer.strides)
        in_shape = self.layers[ref.name].shape
        padding = _padding(
            layer, layer.padding, in_shape[: len(size)], size, strides, (1,) * len(size)
        )
        pool = Pool(
            name=name,
            inputs=(ref.name,),
            shape=_to_ir_shape(_sample_shape(layer, out), ref.layout),
            mode=mode,
            pool_size=size,
            strides=strides,
            padding=padding,
            count_include_pad=False,
        )
        return self._emit(pool, layer.name, out)

    def _do_MaxPooling1D(self, layer, name, ins, out):
        return self._pool(layer, name, ins, out, "max")

    _do_MaxPooling2D = _do_MaxPooling1D

    def _do_AveragePooling1D(self, layer, name, ins, out):
        return self._pool(layer, name, ins, out, "avg")

    _do_AveragePooling2D = _do_AveragePooling1D

    def _global_pool(self, layer, name, ins, out, mode: str):
        ref = self._plain(layer, ins[0])
        self._check_format(layer, ref)
        in_shape = self.layers[ref.name].shape
        channels = in_shape[-1]
        keepdims = bool(getattr(layer, "keepdims", False))
        final = _to_ir_shape(_sample_shape(layer, out), ref.layout) if keepdims else None
        inner = f"{name}_pool" if keepdims or mode == "max" else name
        if mode == "avg":
            pooled: Layer = GlobalAveragePool(name=inner, inputs=(ref.name,), shape=(channels,))
        else:
            spatial = in_shape[:-1]
            pooled = Pool(
                name=inner,
                inputs=(ref.name,),
                shape=(*(1 for _ in spatial), channels),
                mode="max",
                pool_size=spatial,
                strides=spatial,
                padding=[(0, 0)] * len(spatial),
            )
        if inner == name:
            return self._emit(pooled, layer.name, out)
        self.layers[inner] = pooled
        self.uses[inner] = 1
        target = final if keepdims else (channels,)
        if tuple(target) == tuple(pooled.shape):
            self.layers.pop(inner)
            return self._emit(pooled.evolve(name=name), layer.name, out)
        return self._emit(Reshape(name=name, inputs=(inner,), shape=target), layer.name, out)

    def _do_GlobalAveragePooling1D(self, layer, name, ins, out):
        return self._global_pool(layer, name, ins, out, "avg")

    _do_GlobalAveragePooling2D = _do_GlobalAveragePooling1D

    def _do_GlobalMaxPooling1D(self, layer, name, ins, out):
        return self._global_pool(layer, name, ins, out, "max")

    _do_GlobalMaxPooling2D = _do_GlobalMaxPooling1D

    def _do_UpSampling1D(self, layer, name, ins, out):
        ref = self._plain(layer, ins[0])
        self._check_format(layer, ref)
        if getattr(layer, "interpolation", "nearest") != "nearest":
            raise _unsupported(layer, f"interpolation={layer.interpolation!r} (only 'nearest')")
        size = layer.size
        size = (int(size),) if np.ndim(size) == 0 else tuple(int(s) for s in size)
        up = UpSample(
            name=name,
            inputs=(ref.name,),
            shape=_to_ir_shape(_sample_shape(layer, out), ref.layout),
            size=size,
        )
        return self._emit(up, layer.name, out)

    _do_UpSampling2D = _do_UpSampling1D

    def _do_ZeroPadding1D(self, layer, name, ins, out):
        ref = self._plain(layer, ins[0])
        self._check_format(layer, ref)
        padding = layer.padding
        if np.ndim(padding) == 1:
            padding = (tuple(padding),)
        pad = ZeroPad(
            name=name,
            inputs=(ref.name,),
            shape=_to_ir_shape(_sample_shape(layer, out), ref.layout),
            padding=padding,
        )
        return self._emit(pad, layer.name, out)

    _do_ZeroPadding2D = _do_ZeroPadding1D

    def _do_Reshape(self, layer, name, ins, out):
        ref = self._plain(layer, ins[0])
        in_shape = self.layers[ref.name].shape
        if ref.layout == "cf" and len(in_shape) > 1:
            raise _unsupported(layer, "reshaping a channels-first feature map is not supported")
        shape = _sample_shape(layer, out)
        if len(shape) > 1 and self.layout == "cf":
            raise _unsupported(
                layer, "reshaping into a feature map in a channels-first model is not supported"
            )
        if tuple(shape) == tuple(in_shape):
            return self._alias(ref, out)
        return self._emit(Reshape(name=name, inputs=(ref.name,), shape=shape), layer.name, out)

    def _do_Flatten(self, layer, name, ins, out):
        ref = ins[0]
        if ref.perm is not None:
            raise _unsupported(layer, "flattening a flattened tensor twice")
        in_shape = self.layers[ref.name].shape
        n = int(np.prod(in_shape))
        order = np.arange(n).reshape(in_shape)  # IR flat index of each element
        if ref.layout == "cf" and len(in_shape) > 1:
            order = np.moveaxis(order, -1, 0)  # the Keras tensor's axis order
        if getattr(layer, "data_format", "channels_last") == "channels_first" and order.ndim > 1:
            order = np.moveaxis(order, 0, -1)  # Keras' Flatten moves axis 1 last first
        perm = order.ravel()
        perm = None if np.array_equal(perm, np.arange(n)) else perm
        affine = ref.affine
        if affine is not None:
            affine = tuple(np.broadcast_to(a, in_shape).ravel() for a in affine)
        if len(in_shape) == 1:
            return self._alias(ref, out)
        new = self._emit(Reshape(name=name, inputs=(ref.name,), shape=(n,)), layer.name, out)
        if affine is not None or perm is not None:
            self.keras_outputs[name] = None  # holds the values before the pending transforms
        return attrs.evolve(new, affine=affine, perm=perm)

    def _concat_axis(self, layer, ref: _Ref, rank: int) -> int:
        axis = int(layer.axis)
        axis = axis + rank + 1 if axis < 0 else axis
        sample_axis = axis - 1
        if ref.layout == "cf" and rank > 1:
            sample_axis = rank - 1 if sample_axis == 0 else sample_axis - 1
        return -1 if sample_axis == rank - 1 else sample_axis

    def _do_Concatenate(self, layer, name, ins, out):
        rank = len(out.shape) - 1
        if rank == 1 and any(r.affine is not None or r.perm is not None for r in ins):
            return self._concat_flat(layer, name, ins, out)
        refs = [self._plain(layer, r) for r in ins]
        if len({r.layout for r in refs}) > 1:
            raise _unsupported(layer, "its inputs have different data formats")
        cat = Concatenate(
            name=name,
            inputs=tuple(r.name for r in refs),
            shape=_to_ir_shape(_sample_shape(layer, out), refs[0].layout),
            axis=self._concat_axis(layer, refs[0], rank),
        )
        return self._emit(cat, layer.name, out)

    def _concat_flat(self, layer, name, ins, out):
        """Concatenate flat vectors, carrying their pending transforms along."""
        perms, scales, shifts, offset = [], [], [], 0
        for ref in ins:
            n = self.layers[ref.name].shape[0]
            perms.append((np.arange(n) if ref.perm is None else ref.perm) + offset)
            scale, shift = ref.affine if ref.affine is not None else (np.ones(n), np.zeros(n))
            scales.append(scale)
            shifts.append(shift)
            offset += n
        cat = Concatenate(
            name=name,
            inputs=tuple(r.name for r in ins),
            shape=_sample_shape(layer, out),
            axis=-1,
        )
        new = self._emit(cat, layer.name, out)
        self.keras_outputs[name] = None
        perm = np.concatenate(perms)
        affine = None
        if any(r.affine is not None for r in ins):
            affine = (np.concatenate(scales), np.concatenate(shifts))
        return attrs.evolve(
            new, perm=None if np.array_equal(perm, np.arange(offset)) else perm, affine=affine
        )

    def _do_Add(self, layer, name, ins, out):
        refs = [self._plain(layer, r) for r in ins]
        if len({r.layout for r in refs}) > 1:
            raise _unsupported(layer, "its inputs have different data formats")
        shape = _to_ir_shape(_sample_shape(layer, out), refs[0].layout)
        for r in refs:
            if tuple(self.layers[r.name].shape) != shape:
                raise _unsupported(
                    layer, f"broadcasting {self.layers[r.name].shape} to {shape} in an Add"
                )
        add = Add(name=name, inputs=tuple(r.name for r in refs), shape=shape)
        return self._emit(add, layer.name, out)

    # -- batch normalization ----------------------------------------------------------
    def _do_BatchNormalization(self, layer, name, ins, out):
        ref = ins[0]
        rank = len(out.shape) - 1
        axis = layer.axis
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        axis = int(axis) if np.ndim(axis) == 0 else axis
        channel_axis = 1 if (ref.layout == "cf" and rank > 1) else rank
        if axis not in (channel_axis, channel_axis - rank - 1):
            raise _unsupported(layer, f"normalization over axis {axis} (only the channel axis)")
        mean = _numpy(layer.moving_mean)
        var = _numpy(layer.moving_variance)
        gamma = _numpy(layer.gamma) if layer.gamma is not None else np.ones_like(mean)
        beta = _numpy(layer.beta) if layer.beta is not None else np.zeros_like(mean)
        scale = gamma / np.sqrt(var + float(layer.epsilon))
        shift = beta - mean * scale
        if ref.perm is not None:
            raise _unsupported(layer, "a BatchNormalization after a channels-first Flatten")
        if ref.affine is not None:  # two normalizations in a row: compose them
            s0, c0 = ref.affine
            return self._alias(ref, out, affine=(s0 * scale, c0 * scale + shift))
        prev = self.layers[ref.name]
        if self.uses[ref.name] == 1 and prev.activation == "linear":
            if isinstance(prev, (Dense, Conv, ConvTranspose)):
                self._scale_outputs(prev, scale, shift, layer.name)
                return self._alias(ref, out)
            if isinstance(prev, Concatenate) and prev.axis in (-1, len(prev.shape) - 1):
                sources = [self.layers[s] for s in prev.inputs]
                if all(
                    isinstance(s, (Dense, Conv, ConvTranspose))
                    and s.activation == "linear"
                    and self.uses[s.name] == 1
                    for s in sources
                ) and len(set(prev.inputs)) == len(prev.inputs):
                    start = 0
                    for s in sources:
                        stop = start + s.shape[-1]
                        self._scale_outputs(s, scale[start:stop], shift[start:stop], None)
                        # a branch now holds a slice of the normalized output, which is no
                        # Keras layer's output
                        self.keras_outputs[s.name] = None
                        start = stop
                    self.keras_outputs[prev.name] = layer.name
                    return self._alias(ref, out)
        # fold into the layers that read it (checked there)
        return self._alias(ref, out, affine=(scale, shift))

    def _scale_outputs(self, prev: Layer, scale, shift, keras_name: str | None) -> None:
        if isinstance(prev, Dense):
            changes = {"weights": prev.weights * scale}
        else:
            changes = {"kernel": prev.kernel * scale}
        changes["bias"] = prev.bias.astype(np.float64) * scale + shift
        self.layers[prev.name] = prev.evolve(**changes)
        if keras_name is not None:
            self.keras_outputs[prev.name] = keras_name


def convert_model(model: Any) -> Network:
    """Convert a loaded Keras model (Sequential or functional) to the snn IR.

    Raises
    ------
    UnsupportedLayerError
        Naming the first layer that cannot be converted exactly.
    """
    return _Converter(model).run()


__all__ = ["SUPPORTED_LAYERS", "convert_model", "input_layout"]
