"""Conversion of an ONNX graph (channels-first, NCHW) into the channels-last snn IR.

The nodes are walked in their (topological) order. Each ONNX tensor is either a numpy
constant (initializers, ``Constant`` nodes and everything folded from them, see
:mod:`snn_parser_onnx.graph`) or a :class:`_Ref` to the IR layer that holds its values.

Layout
------
A ``_Ref`` records the tensor's ONNX sample shape (channels first, no batch axis) and
``perm``: an array of that shape whose entry at each ONNX element is the index of that
element in the IR layer's output flattened in C order. For a feature map held
channels-last (the normal case) ``perm`` is the "canonical" one, ``channels_last(i)``;
``Flatten``/``Reshape`` just reshape ``perm``, so a flattened feature map keeps the IR's
channels-last order and the ``Gemm``/``MatMul`` that reads it gets its weight rows
permuted to match. Layers that need spatial structure (Conv, pooling...) require the
canonical order.

Folding
-------
``Relu`` (and ``Clip(min=0)``) and ``Softmax`` become the activation of the layer that
produced their input. ``BatchNormalization`` and ``Add``/``Sub``/``Mul``/``Div`` with a
constant are per-channel affine maps: folded into the Dense/Conv/ConvTranspose before them
(also through a channel ``Concat``, slice by slice), else kept pending and folded into the
Dense or unpadded Conv after them (exact), else an error. ``Identity`` and ``Dropout``
are aliases. Anything else is an :class:`~snn_core.errors.UnsupportedLayerError`.

``network.metadata["onnx_outputs"]`` maps each IR layer to the ONNX tensor whose value it
holds (channels-last), or None where it holds something no ONNX tensor equals.
"""

from __future__ import annotations

import math
import re
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
from snn_parser_onnx import graph as g
from snn_parser_onnx.layout import canonical, channels_last, nearest_source

#: ONNX operators the parser converts (on data tensors; any operator is folded when all
#: its inputs are constants).
SUPPORTED_OPS = (
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Clip",
    "Concat",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Flatten",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Identity",
    "MatMul",
    "Max",
    "MaxPool",
    "Mul",
    "Pad",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Softmax",
    "Squeeze",
    "Sub",
    "Unsqueeze",
    "Upsample",
)

_WEIGHTED = (Dense, Conv, ConvTranspose)


@attrs.frozen(eq=False)
class _Ref:
    """What an ONNX data tensor is in the IR (see the module docstring)."""

    #: The IR layer holding the values.
    name: str
    #: ONNX sample shape (no batch axis), channels first.
    shape: tuple[int, ...]
    #: IR flat index of each ONNX element (an int array of ``shape``).
    perm: np.ndarray
    #: Pending elementwise ``x * scale + shift`` (arrays of ``shape``) still to be folded.
    affine: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def is_canonical(self) -> bool:
        return np.array_equal(self.perm, canonical(self.shape))


def _sanitize(name: str) -> str:
    # TorchScript names nodes "/<scopes>/<qualified.module.name>/<Op>": keep the last two
    parts = [p for p in name.split("/") if p]
    if name.startswith("/") and len(parts) >= 2:
        name = f"{parts[-2]}_{parts[-1]}"
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", name).strip("_") or "node"


class _Converter:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.graph = model.graph
        self.opset = g.opset_version(model)
        self.values: dict[str, Any] = dict(g.initializers(self.graph))
        self.tensor_uses = g.tensor_uses(self.graph)
        self.layers: dict[str, Layer] = {}
        self.uses: dict[str, int] = {}
        self.onnx_outputs: dict[str, str | None] = {}
        self.batch_values = {g.BATCH}
        self.node = None
        self.label = ""

    # -- messages ---------------------------------------------------------------------
    def error(self, reason: str) -> UnsupportedLayerError:
        return UnsupportedLayerError(
            f"{self.label}: {reason}. Supported ONNX ops: {', '.join(SUPPORTED_OPS)} "
            "(any op whose inputs are all constants is folded)"
        )

    # -- bookkeeping ------------------------------------------------------------------
    def _unique(self, base: str) -> str:
        name, i = _sanitize(base), 1
        while name in self.layers:
            i += 1
            name = f"{_sanitize(base)}_{i}"
        return name

    def _emit(self, layer: Layer, out: str | None, shape, perm=None, uses=None) -> _Ref:
        self.layers[layer.name] = layer
        self.uses[layer.name] = self.tensor_uses.get(out, 0) if uses is None else uses
        shape = tuple(int(s) for s in shape)
        perm = canonical(shape) if perm is None else perm
        ref = _Ref(layer.name, shape, perm)
        self.onnx_outputs[layer.name] = out if self._holds(ref) else None
        return ref

    def _holds(self, ref: _Ref) -> bool:
        """Whether the IR layer's output equals the ONNX tensor (channels-last)."""
        layer = self.layers[ref.name]
        return (
            ref.affine is None
            and ref.is_canonical
            and tuple(layer.shape) == channels_last(ref.shape)
        )

    def _alias(self, ref: _Ref, out: str, **changes: Any) -> _Ref:
        # the node consumed one use of ``ref``; the consumers of ``out`` now read ref.name
        self.uses[ref.name] += self.tensor_uses.get(out, 0) - 1
        new = attrs.evolve(ref, **changes)
        if self._holds(new):
            self.onnx_outputs[new.name] = out
        return new

    def _reshape_layer(self, ref: _Ref, shape: tuple[int, ...]) -> str:
        """An IR Reshape of ``ref.name`` to ``shape`` (reused if it exists)."""
        src = self.layers[ref.name]
        if tuple(src.shape) == tuple(shape):
            return src.name
        name = f"{ref.name}_reshape_{'x'.join(map(str, shape))}"
        if name in self.layers:
            self.uses[name] += 1
            return name
        self.layers[name] = Reshape(name=name, inputs=(src.name,), shape=shape)
        self.uses[name] = 1
        self.onnx_outputs[name] = None
        return name

    # -- input checks -----------------------------------------------------------------
    def _ref(self, ins: list, i: int = 0) -> _Ref:
        value = ins[i] if i < len(ins) else None
        if not isinstance(value, _Ref):
            raise self.error(f"input {i} must be a data tensor (computed from the model input)")
        return value

    def _const(self, ins: list, i: int, what: str, optional: bool = False) -> np.ndarray | None:
        value = ins[i] if i < len(ins) else None
        if value is None and optional:
            return None
        if not isinstance(value, np.ndarray):
            raise self.error(
                f"input {i} ({what}) must be a constant (an initializer or folded from "
                f"constants), found {'nothing' if value is None else 'a data tensor'}"
            )
        return value

    def _plain(self, ref: _Ref) -> _Ref:
        if ref.affine is not None:
            raise self.error(
                "it reads the output of an affine op (BatchNormalization, or Add/Mul with a "
                "constant) that could not be folded into the layer before it, and it is not a "
                "Gemm/MatMul or an unpadded Conv that it could be folded into"
            )
        return ref

    def _spatial(self, ref: _Ref, rank: int | None = None) -> _Ref:
        """``ref`` as a channels-last feature map: checks layout, inserts a Reshape if needed."""
        self._plain(ref)
        if len(ref.shape) < 2 or (rank is not None and len(ref.shape) != rank + 1):
            want = "(C, spatial...)" if rank is None else f"of rank {rank + 1} (C + {rank}-D)"
            raise self.error(f"its input has sample shape {ref.shape}, expected {want}")
        if not ref.is_canonical:
            raise self.error(
                f"its input (sample shape {ref.shape}) was reshaped from a tensor in an order "
                "that is not a channels-first feature map (e.g. a Reshape of a flattened "
                "feature map into another layout); this needs a transpose the IR lacks"
            )
        name = self._reshape_layer(ref, channels_last(ref.shape))
        return attrs.evolve(ref, name=name)

    def _flat(self, ref: _Ref) -> _Ref:
        """``ref`` as an IR layer of rank 1 (inserting a Reshape if needed)."""
        n = int(np.prod(ref.shape))
        return attrs.evolve(ref, name=self._reshape_layer(ref, (n,)))

    # -- run --------------------------------------------------------------------------
    def run(self) -> Network:
        self._input()
        for index, node in enumerate(self.graph.node):
            self.node = node
            self.label = g.node_label(node, index)
            self._node(node, index)
        outputs = []
        for out in self.graph.output:
            value = self.values.get(out.name)
            self.label = f"ONNX graph output {out.name!r}"
            if not isinstance(value, _Ref):
                raise self.error("it is a constant, not computed from the input")
            self._plain(value)
            if len(value.shape) == 1 and not value.is_canonical:
                raise self.error(
                    "it is a flattened channels-first feature map; the IR would hold it in "
                    "channels-last order, which differs from the ONNX output"
                )
            outputs.append(value.name)
        layers = [lay for lay in self.layers.values()]
        return Network.from_layers(
            layers,
            outputs=list(dict.fromkeys(outputs)),
            metadata={"onnx_outputs": self.onnx_outputs},
        )

    def _input(self) -> None:
        inputs = g.data_inputs(self.graph)
        self.label = "ONNX graph inputs"
        if len(inputs) != 1:
            raise self.error(
                f"the model has {len(inputs)} data inputs ({[i.name for i in inputs]}); "
                "exactly one is supported"
            )
        value_info = inputs[0]
        dims = g.input_dims(value_info)
        self.label = f"ONNX graph input {value_info.name!r}"
        if len(dims) < 2 or not all(isinstance(d, int) and d > 0 for d in dims[1:]):
            raise self.error(
                f"its shape {list(dims)} must be (batch, C, ...) with every axis but the "
                "batch axis fixed; export with a concrete example input and mark only "
                "axis 0 as dynamic"
            )
        if isinstance(dims[0], int):
            self.batch_values.add(dims[0])
        shape = tuple(int(d) for d in dims[1:])
        name = self._unique(value_info.name)
        layer = InputLayer(name=name, shape=channels_last(shape))
        self.values[value_info.name] = self._emit(layer, value_info.name, shape)

    def _node(self, node: Any, index: int) -> None:
        ins = [self.values.get(n) if n else None for n in node.input]
        for n, v in zip(node.input, ins, strict=True):
            if n and v is None:
                raise self.error(f"input {n!r} is not produced by any earlier node")
        if node.op_type == "Shape" and isinstance(ins[0], _Ref):
            outs = [self._shape(ins[0], g.attributes(node))]
        elif all(v is None or isinstance(v, np.ndarray) for v in ins):
            outs = [np.asarray(v) for v in g.fold(node, self.label, ins, self.opset)]
        else:
            if node.domain not in ("", "ai.onnx"):
                raise self.error(f"operators of domain {node.domain!r} are not supported")
            handler = getattr(self, f"_do_{node.op_type}", None)
            if handler is None:
                raise self.error("this op is not supported")
            name = self._unique(node.name or f"{node.op_type}_{index}")
            out = handler(name, ins, g.attributes(node), node.output[0])
            outs = [out]
            for extra in node.output[1:]:
                if extra and self.tensor_uses.get(extra, 0):
                    raise self.error(f"its extra output {extra!r} is used, which is not supported")
        for n, value in zip(node.output, outs, strict=False):
            if n:
                self.values[n] = value

    # -- shapes -----------------------------------------------------------------------
    def _shape(self, ref: _Ref, at: dict) -> np.ndarray:
        full = np.array([g.BATCH, *ref.shape], dtype=np.int64)
        start, end = at.get("start", 0), at.get("end", None)
        return full[start:end]

    def _reshape(self, name: str, ref: _Ref, shape: tuple[int, ...], out: str) -> _Ref:
        shape = tuple(int(s) for s in shape)
        if shape == ref.shape:
            return self._alias(ref, out)
        perm = ref.perm.reshape(shape)
        affine = None
        if ref.affine is not None:
            affine = (ref.affine[0].reshape(shape), ref.affine[1].reshape(shape))
        if not np.array_equal(perm, canonical(shape)) and len(shape) >= 2:
            self._reorder_dense(ref, shape)
            ref = self.values[self.node.input[0]]
            perm = ref.perm.reshape(shape)
        target = channels_last(shape) if np.array_equal(perm, canonical(shape)) else None
        if target is None:
            target = (int(np.prod(shape)),)
        src = self.layers[ref.name]
        if tuple(src.shape) == target:
            return self._alias(ref, out, shape=shape, perm=perm, affine=affine)
        layer = Reshape(name=name, inputs=(ref.name,), shape=target)
        new = self._emit(layer, out, shape, perm)
        new = attrs.evolve(new, affine=affine)
        if affine is not None:
            self.onnx_outputs[name] = None
        return new

    def _reorder_dense(self, ref: _Ref, shape: tuple[int, ...]) -> None:
        """Make a Dense whose output is reshaped into a feature map emit channels-last.

        A flat Dense output reshaped to ``(C, H, W)`` is in channels-first order; permuting
        the Dense's columns makes the IR hold it channels-last (canonical) instead.
        """
        prev = self.layers[ref.name]
        if not (
            isinstance(prev, Dense)
            and self.uses[ref.name] == 1
            and ref.affine is None
            and np.array_equal(ref.perm, np.arange(prev.shape[0]))
        ):
            return
        target = canonical(shape).ravel()  # IR position of ONNX element i
        weights = np.empty_like(prev.weights)
        bias = np.empty_like(prev.bias)
        weights[:, target] = prev.weights
        bias[target] = prev.bias
        self.layers[ref.name] = prev.evolve(weights=weights, bias=bias)
        self.onnx_outputs[ref.name] = None
        self.values[self.node.input[0]] = attrs.evolve(ref, perm=target)

    def _do_Flatten(self, name, ins, at, out):
        ref = self._ref(ins)
        rank = len(ref.shape) + 1
        axis = int(at.get("axis", 1))
        axis = axis + rank if axis < 0 else axis
        if axis != 1:
            raise self.error(
                f"axis={at.get('axis')} (only 1: keep the batch axis, flatten the rest)"
            )
        return self._reshape(name, ref, (int(np.prod(ref.shape)),), out)

    def _do_Reshape(self, name, ins, at, out):
        ref = self._ref(ins)
        target = [int(v) for v in self._const(ins, 1, "shape")]
        full = [g.BATCH, *ref.shape]
        if not at.get("allowzero", 0):
            target = [full[i] if v == 0 and i < len(full) else v for i, v in enumerate(target)]
        sample = int(np.prod(ref.shape))
        if target and target[0] == -1:  # the batch size is inferred
            target[0] = g.BATCH
        elif -1 in target[1:]:  # a sample axis is inferred (the batch may be a literal)
            i = target.index(-1, 1)
            known = int(np.prod([v for v in target[1:] if v != -1], dtype=np.int64))
            target[i] = sample // known if known and sample % known == 0 else -2
        if not target or target[0] not in self.batch_values or np.prod(target[1:]) != sample:
            shown = ["N" if v == g.BATCH else v for v in target]
            raise self.error(
                f"reshaping (N, {', '.join(map(str, ref.shape))}) to {shown}: a Reshape must "
                "keep the batch axis first and reshape only the sample"
            )
        return self._reshape(name, ref, tuple(target[1:]), out)

    def _axes(self, ins, at, rank: int) -> list[int]:
        axes = at.get("axes")
        if len(ins) > 1 and ins[1] is not None:
            axes = self._const(ins, 1, "axes")
        if axes is None:
            return []
        return sorted(int(a) + rank if int(a) < 0 else int(a) for a in np.ravel(axes))

    def _do_Squeeze(self, name, ins, at, out):
        ref = self._ref(ins)
        full = [g.BATCH, *ref.shape]
        axes = self._axes(ins, at, len(full)) or [i for i, d in enumerate(full) if d == 1]
        if 0 in axes or any(full[a] != 1 for a in axes):
            raise self.error(f"squeezing axes {axes} of (N, {ref.shape}) (only size-1 sample axes)")
        shape = tuple(d for i, d in enumerate(full) if i not in axes)[1:]
        return self._reshape(name, ref, shape, out)

    def _do_Unsqueeze(self, name, ins, at, out):
        ref = self._ref(ins)
        raw = at.get("axes")
        if len(ins) > 1 and ins[1] is not None:
            raw = self._const(ins, 1, "axes")
        raw = [] if raw is None else [int(a) for a in np.ravel(raw)]
        rank = len(ref.shape) + 1 + len(raw)
        axes = sorted(a + rank if a < 0 else a for a in raw)
        if 0 in axes:
            raise self.error("unsqueezing axis 0 would move the batch axis")
        full = [g.BATCH, *ref.shape]
        for a in axes:
            full.insert(a, 1)
        return self._reshape(name, ref, tuple(full[1:]), out)

    # -- identities and activations ---------------------------------------------------
    def _do_Identity(self, name, ins, at, out):
        return self._alias(self._ref(ins), out)

    def _do_Dropout(self, name, ins, at, out):
        training = self._const(ins, 2, "training_mode", optional=True)
        if training is not None and bool(np.ravel(training)[0]):
            raise self.error("training_mode=true (only inference-mode Dropout is the identity)")
        return self._alias(self._ref(ins), out)

    def _activation(self, ref: _Ref, activation: str, out: str) -> _Ref:
        self._plain(ref)
        prev = self.layers[ref.name]
        # an activation commutes with a Reshape: apply it to the layer before the Reshape
        if (
            isinstance(prev, Reshape)
            and prev.activation == "linear"
            and activation == "relu"
            and self.uses[prev.name] == 1
            and self.uses[prev.inputs[0]] == 1
            and not isinstance(self.layers[prev.inputs[0]], InputLayer)
            and self.layers[prev.inputs[0]].activation == "linear"
        ):
            src = self.layers[prev.inputs[0]]
            self.layers[src.name] = src.evolve(activation=activation)
            self.onnx_outputs[src.name] = None
            return self._alias(ref, out)
        if isinstance(prev, InputLayer) or prev.activation != "linear":
            raise self.error(
                f"a standalone {activation} can only follow a layer without an activation "
                f"(it follows {prev.kind} {prev.name!r} [{prev.activation}])"
            )
        if self.uses[ref.name] != 1:
            raise self.error(
                f"the output of {prev.name!r} is also used without the {activation}, so the "
                "activation cannot be absorbed into it"
            )
        self.layers[ref.name] = prev.evolve(activation=activation)
        return self._alias(ref, out)

    def _do_Relu(self, name, ins, at, out):
        return self._activation(self._ref(ins), "relu", out)

    def _do_Clip(self, name, ins, at, out):
        low = at.get("min", -np.inf)
        high = at.get("max", np.inf)
        if len(ins) > 1 and ins[1] is not None:
            low = self._const(ins, 1, "min")
        if len(ins) > 2 and ins[2] is not None:
            high = self._const(ins, 2, "max")
        low, high = float(np.ravel(low)[0]), float(np.ravel(high)[0])
        if low != 0.0 or high < 3.4e38:
            raise self.error(
                f"Clip(min={low:g}, max={high:g}) is not a ReLU; only Clip(min=0) with no "
                "finite max converts (a bounded ReLU such as ReLU6 does not)"
            )
        return self._activation(self._ref(ins), "relu", out)

    def _do_Max(self, name, ins, at, out):
        refs = [v for v in ins if isinstance(v, _Ref)]
        consts = [v for v in ins if isinstance(v, np.ndarray)]
        if len(refs) != 1 or len(consts) != len(ins) - 1 or any(np.any(c != 0) for c in consts):
            raise self.error("only Max(x, 0), a ReLU, converts")
        ref = refs[0]
        for c in consts:
            if np.broadcast_shapes(c.shape, (1, *ref.shape)) != (1, *ref.shape):
                raise self.error(f"a constant of shape {c.shape} would broadcast the data tensor")
        return self._activation(ref, "relu", out)

    def _do_Softmax(self, name, ins, at, out):
        ref = self._plain(self._ref(ins))
        rank = len(ref.shape) + 1
        default = -1 if self.opset >= 13 else 1
        axis = int(at.get("axis", default))
        axis = axis + rank if axis < 0 else axis
        if rank == 2 and axis == 1:
            return self._activation(self._flat(ref), "softmax", out)
        if self.opset >= 13 and axis == 1:
            return self._activation(self._spatial(ref), "softmax", out)
        raise self.error(
            f"softmax over axis {at.get('axis', default)} of (N, {ref.shape}) (only over "
            "the features of a flat tensor, or over the channels)"
        )

    # -- weighted layers --------------------------------------------------------------
    def _dense(self, name, ref: _Ref, weights: np.ndarray, bias: np.ndarray, out: str) -> _Ref:
        if len(ref.shape) != 1 or ref.shape[0] != weights.shape[0]:
            raise self.error(
                f"its input has sample shape {ref.shape}; a dense layer needs a flat input of "
                f"{weights.shape[0]} features (flatten before it)"
            )
        ref = self._flat(ref)
        if ref.affine is not None:
            scale, shift = ref.affine
            bias = bias + shift @ weights
            weights = scale[:, None] * weights
        ir_weights = np.empty_like(weights)
        ir_weights[ref.perm] = weights
        dense = Dense(
            name=name,
            inputs=(ref.name,),
            shape=(weights.shape[1],),
            weights=ir_weights,
            bias=bias,
        )
        return self._emit(dense, out, (weights.shape[1],))

    def _do_Gemm(self, name, ins, at, out):
        ref = self._ref(ins)
        if at.get("transA", 0):
            raise self.error("transA=1 (the data input would be transposed with the batch axis)")
        b = self._const(ins, 1, "B").astype(np.float64)
        if b.ndim != 2:
            raise self.error(f"B has shape {b.shape}, expected a matrix")
        weights = (b.T if at.get("transB", 0) else b) * float(at.get("alpha", 1.0))
        c = self._const(ins, 2, "C", optional=True)
        n_out = weights.shape[1]
        bias = np.zeros(n_out)
        if c is not None:
            try:
                bias = np.broadcast_to(c.astype(np.float64), (1, n_out))[0]
            except ValueError:
                raise self.error(
                    f"C has shape {c.shape}; only a bias broadcast over the batch works"
                ) from None
            bias = bias * float(at.get("beta", 1.0))
        return self._dense(name, ref, weights, bias, out)

    def _do_MatMul(self, name, ins, at, out):
        ref = self._ref(ins)
        b = self._const(ins, 1, "B (the weights; the data tensor must be the first operand)")
        if b.ndim != 2:
            raise self.error(f"the weight operand has shape {b.shape}, expected a matrix")
        return self._dense(name, ref, b.astype(np.float64), np.zeros(b.shape[1]), out)

    def _pads(self, at: dict, size, kernel, strides, dilation) -> list[tuple[int, int]]:
        mode = at.get("auto_pad", "NOTSET") or "NOTSET"
        rank = len(size)
        if mode == "NOTSET":
            pads = [int(p) for p in at.get("pads", [0] * (2 * rank))]
            if any(p < 0 for p in pads):
                raise self.error(f"negative pads {pads}")
            return list(zip(pads[:rank], pads[rank:], strict=True))
        if mode == "VALID":
            return [(0, 0)] * rank
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for n, k, s, d in zip(size, kernel, strides, dilation, strict=True):
                total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
                small, large = total // 2, total - total // 2
                pads.append((small, large) if mode == "SAME_UPPER" else (large, small))
            return pads
        raise self.error(f"auto_pad={mode!r} (valid: NOTSET, VALID, SAME_UPPER, SAME_LOWER)")

    def _do_Conv(self, name, ins, at, out):
        ref = self._ref(ins)
        w = self._const(ins, 1, "weights").astype(np.float64)
        rank = w.ndim - 2
        if rank not in (1, 2):
            raise self.error(f"a {rank}-D convolution (only 1-D and 2-D)")
        affine, ref = ref.affine, attrs.evolve(ref, affine=None)
        ref = self._spatial(ref, rank)
        cout, cin_g = w.shape[:2]
        groups = int(at.get("group", 1))
        cin = ref.shape[0]
        if cin_g * groups != cin:
            raise self.error(f"weights {w.shape} with group={groups} do not fit {cin} channels")
        ksize = w.shape[2:]
        if "kernel_shape" in at and tuple(at["kernel_shape"]) != tuple(ksize):
            raise self.error(f"kernel_shape={at['kernel_shape']} differs from weights {w.shape}")
        strides = tuple(int(s) for s in at.get("strides", [1] * rank))
        dilation = tuple(int(d) for d in at.get("dilations", [1] * rank))
        size = ref.shape[1:]
        padding = self._pads(at, size, ksize, strides, dilation)
        kernel = w.transpose(*range(2, 2 + rank), 1, 0)  # (O, I/g, *k) -> (*k, I/g, O)
        bias = self._const(ins, 2, "bias", optional=True)
        bias = np.zeros(cout) if bias is None else bias.astype(np.float64)
        if affine is not None:
            if any(a or b for a, b in padding):
                raise self.error(
                    "an affine op (e.g. BatchNormalization) before a padded Conv cannot be "
                    "folded exactly (the zero padding would be transformed too)"
                )
            scale, shift = (self._per_channel(a) for a in affine)
            if scale is None or shift is None:
                raise self.error("an affine op before it is not per channel")
            channel = (np.arange(cout) // (cout // groups))[None, :] * cin_g + np.arange(cin_g)[
                :, None
            ]
            bias = bias + (kernel * shift[channel]).sum(axis=tuple(range(rank + 1)))
            kernel = kernel * scale[channel]
        spatial = [
            (n + a + b - d * (k - 1) - 1) // s + 1
            for n, (a, b), k, s, d in zip(size, padding, ksize, strides, dilation, strict=True)
        ]
        if min(spatial) < 1:
            raise self.error(f"its output would be empty (spatial size {spatial})")
        conv = Conv(
            name=name,
            inputs=(ref.name,),
            shape=(*spatial, cout),
            kernel=kernel,
            bias=bias,
            strides=strides,
            padding=padding,
            dilation=dilation,
            groups=groups,
        )
        return self._emit(conv, out, (cout, *spatial))

    @staticmethod
    def _per_channel(array: np.ndarray) -> np.ndarray | None:
        """The per-channel vector of an array of shape (C, ...) constant over the rest."""
        flat = array.reshape(array.shape[0], -1)
        return flat[:, 0] if np.all(flat == flat[:, :1]) else None

    def _do_ConvTranspose(self, name, ins, at, out):
        ref = self._ref(ins)
        w = self._const(ins, 1, "weights").astype(np.float64)
        rank = w.ndim - 2
        if rank not in (1, 2):
            raise self.error(f"a {rank}-D transposed convolution (only 1-D and 2-D)")
        ref = self._spatial(ref, rank)
        if int(at.get("group", 1)) != 1:
            raise self.error(f"group={at['group']} (only 1 for ConvTranspose)")
        cin, cout = w.shape[:2]
        if cin != ref.shape[0]:
            raise self.error(f"weights {w.shape} do not fit {ref.shape[0]} input channels")
        ksize = w.shape[2:]
        strides = [int(s) for s in at.get("strides", [1] * rank)]
        dilation = [int(d) for d in at.get("dilations", [1] * rank)]
        out_pad = [int(p) for p in at.get("output_padding", [0] * rank)]
        size = ref.shape[1:]
        full = [
            (n - 1) * s + (k - 1) * d + 1
            for n, s, k, d in zip(size, strides, ksize, dilation, strict=True)
        ]
        mode = at.get("auto_pad", "NOTSET") or "NOTSET"
        target = at.get("output_shape")
        if target is None and mode in ("SAME_UPPER", "SAME_LOWER"):
            target = [n * s for n, s in zip(size, strides, strict=True)]
        if target is not None:
            target = list(target)[-rank:]
            padding = []
            for f, op, o in zip(full, out_pad, target, strict=True):
                total = f + op - int(o)
                if total < 0:
                    raise self.error(f"output_shape {target} is larger than the full output")
                if mode == "SAME_UPPER":
                    padding.append((total // 2, total - total // 2))
                else:
                    padding.append((total - total // 2, total // 2))
        elif mode in ("NOTSET", "VALID"):
            padding = self._pads(
                {"pads": at.get("pads", [0] * 2 * rank)}, size, ksize, strides, dilation
            )
            if mode == "VALID":
                padding = [(0, 0)] * rank
        else:
            raise self.error(f"auto_pad={mode!r}")
        spatial = [f - a - b + op for f, (a, b), op in zip(full, padding, out_pad, strict=True)]
        kernel = w.transpose(*range(2, 2 + rank), 0, 1)  # (I, O, *k) -> (*k, I, O)
        bias = self._const(ins, 2, "bias", optional=True)
        bias = np.zeros(cout) if bias is None else bias.astype(np.float64)
        conv = ConvTranspose(
            name=name,
            inputs=(ref.name,),
            shape=(*spatial, cout),
            kernel=kernel,
            bias=bias,
            strides=strides,
            padding=padding,
            output_padding=out_pad,
            dilation=dilation,
        )
        return self._emit(conv, out, (cout, *spatial))

    # -- pooling ----------------------------------------------------------------------
    def _pool(self, name, ins, at, out, mode: str):
        ref = self._ref(ins)
        ksize = tuple(int(k) for k in at["kernel_shape"])
        rank = len(ksize)
        ref = self._spatial(ref, rank)
        if any(int(d) != 1 for d in at.get("dilations", [1] * rank)):
            raise self.error(f"dilations={at['dilations']} (only 1)")
        strides = tuple(int(s) for s in at.get("strides", [1] * rank))
        size = ref.shape[1:]
        padding = self._pads(at, size, ksize, strides, (1,) * rank)
        include = bool(at.get("count_include_pad", 0)) and mode == "avg"
        spatial = []
        for i, (n, (a, b), k, s) in enumerate(zip(size, padding, ksize, strides, strict=True)):
            o = (n + a + b - k) // s + 1
            if at.get("ceil_mode", 0):
                c = -(-(n + a + b - k) // s) + 1
                if (c - 1) * s >= n + a:  # the last window must start inside input or pads
                    c -= 1
                if c > o:
                    if include:
                        raise self.error(
                            "ceil_mode=1 with count_include_pad=1 adds a partial window whose "
                            "divisor the IR cannot express"
                        )
                    padding[i] = (a, b + (c - 1) * s + k - (n + a + b))
                    o = c
            spatial.append(o)
        pool = Pool(
            name=name,
            inputs=(ref.name,),
            shape=(*spatial, ref.shape[0]),
            mode=mode,
            pool_size=ksize,
            strides=strides,
            padding=padding,
            count_include_pad=include,
        )
        return self._emit(pool, out, (ref.shape[0], *spatial))

    def _do_MaxPool(self, name, ins, at, out):
        return self._pool(name, ins, at, out, "max")

    def _do_AveragePool(self, name, ins, at, out):
        return self._pool(name, ins, at, out, "avg")

    def _do_GlobalAveragePool(self, name, ins, at, out):
        ref = self._spatial(self._ref(ins))
        channels, rank = ref.shape[0], len(ref.shape) - 1
        layer = GlobalAveragePool(name=name, inputs=(ref.name,), shape=(channels,))
        return self._emit(layer, out, (channels, *(1,) * rank))

    def _do_GlobalMaxPool(self, name, ins, at, out):
        ref = self._spatial(self._ref(ins))
        size = ref.shape[1:]
        pool = Pool(
            name=name,
            inputs=(ref.name,),
            shape=(*(1 for _ in size), ref.shape[0]),
            mode="max",
            pool_size=size,
            strides=size,
            padding=[(0, 0)] * len(size),
        )
        return self._emit(pool, out, (ref.shape[0], *(1 for _ in size)))

    # -- padding and resizing ---------------------------------------------------------
    def _do_Pad(self, name, ins, at, out):
        ref = self._ref(ins)
        mode = at.get("mode", "constant")
        if mode != "constant":
            raise self.error(f"mode={mode!r} (only 'constant' with value 0)")
        rank = len(ref.shape) + 1
        if self.opset < 11:
            pads, value = list(at.get("pads", [])), float(at.get("value", 0.0))
            axes = list(range(rank))
        else:
            pads = [int(p) for p in self._const(ins, 1, "pads")]
            value = self._const(ins, 2, "constant_value", optional=True)
            value = 0.0 if value is None or value.size == 0 else float(np.ravel(value)[0])
            axes = self._const(ins, 3, "axes", optional=True)
            axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
        if value != 0.0:
            raise self.error(f"constant value {value:g} (only zero padding)")
        pairs = dict.fromkeys(range(rank), (0, 0))
        for i, a in enumerate(axes):
            pairs[a] = (int(pads[i]), int(pads[i + len(axes)]))
        if pairs[0] != (0, 0) or pairs[1] != (0, 0):
            raise self.error("padding the batch or channel axis (only spatial axes)")
        if any(a < 0 or b < 0 for a, b in pairs.values()):
            raise self.error(f"negative pads {pads} (cropping)")
        ref = self._spatial(ref)
        padding = [pairs[a] for a in range(2, rank)]
        spatial = [n + a + b for n, (a, b) in zip(ref.shape[1:], padding, strict=True)]
        pad = ZeroPad(
            name=name, inputs=(ref.name,), shape=(*spatial, ref.shape[0]), padding=padding
        )
        return self._emit(pad, out, (ref.shape[0], *spatial))

    def _do_Upsample(self, name, ins, at, out):
        ref = self._ref(ins)
        scales = at.get("scales")
        if scales is None:
            scales = self._const(ins, 1, "scales")
        return self._upsample(name, ref, at, np.asarray(scales, np.float64), out)

    def _do_Resize(self, name, ins, at, out):
        ref = self._ref(ins)
        scales = None
        if len(ins) == 2 or self.opset < 11:
            scales = self._const(ins, 1, "scales")
        else:
            s = self._const(ins, 2, "scales", optional=True)
            sizes = self._const(ins, 3, "sizes", optional=True)
            if s is not None and s.size:
                scales = s.astype(np.float64)
            elif sizes is not None and sizes.size:
                sizes = sizes.astype(np.float64)
                full = np.array([g.BATCH, *ref.shape], np.float64)
                axes = at.get("axes")
                full = full[list(axes)] if axes is not None else full
                scales = sizes / full
                if axes is None:
                    scales[0] = 1.0
            else:
                raise self.error("neither scales nor sizes is given")
        if at.get("axes") is not None:
            full_scales = np.ones(len(ref.shape) + 1)
            full_scales[list(at["axes"])] = scales
            scales = full_scales
        return self._upsample(name, ref, at, np.asarray(scales, np.float64), out)

    def _upsample(self, name, ref: _Ref, at: dict, scales: np.ndarray, out: str) -> _Ref:
        if at.get("mode", "nearest") != "nearest":
            raise self.error(f"mode={at.get('mode')!r} (only 'nearest')")
        ref = self._spatial(ref)
        if scales.size != len(ref.shape) + 1 or scales[0] != 1 or scales[1] != 1:
            raise self.error(f"scales {scales.tolist()} (batch and channel scales must be 1)")
        factors = scales[2:]
        if np.any(factors < 1) or np.any(factors != np.round(factors)):
            raise self.error(f"scales {scales.tolist()} (only integer upsampling factors)")
        factors = [int(f) for f in factors]
        coord = at.get("coordinate_transformation_mode", "half_pixel")
        rounding = at.get("nearest_mode", "round_prefer_floor")
        for n, f in zip(ref.shape[1:], factors, strict=True):
            if not np.array_equal(nearest_source(n, f, coord, rounding), np.arange(n * f) // f):
                raise self.error(
                    f"coordinate_transformation_mode={coord!r} with nearest_mode={rounding!r} "
                    f"does not repeat each element {f} times"
                )
        spatial = [n * f for n, f in zip(ref.shape[1:], factors, strict=True)]
        up = UpSample(name=name, inputs=(ref.name,), shape=(*spatial, ref.shape[0]), size=factors)
        return self._emit(up, out, (ref.shape[0], *spatial))

    # -- merging ----------------------------------------------------------------------
    def _do_Concat(self, name, ins, at, out):
        refs = [self._ref(ins, i) for i in range(len(ins))]
        rank = len(refs[0].shape)
        axis = int(at["axis"])
        axis = axis + rank + 1 if axis < 0 else axis
        if axis == 0:
            raise self.error("concatenating along the batch axis")
        a = axis - 1
        affines = None
        if any(r.affine is not None for r in refs):
            affines = tuple(
                np.concatenate(
                    [
                        r.affine[k] if r.affine is not None else np.full(r.shape, float(1 - k))
                        for r in refs
                    ],
                    axis=a,
                )
                for k in (0, 1)
            )
        plain = [attrs.evolve(r, affine=None) for r in refs]
        shape = list(refs[0].shape)
        shape[a] = sum(r.shape[a] for r in refs)
        shape = tuple(shape)
        if rank >= 2 and all(r.is_canonical for r in plain):
            sources = [self._spatial(r) for r in plain]
            ir_axis = -1 if a == 0 else a - 1
            cat = Concatenate(
                name=name,
                inputs=tuple(s.name for s in sources),
                shape=channels_last(shape),
                axis=ir_axis,
            )
            new = self._emit(cat, out, shape)
        else:  # flat concatenation in the IR, ONNX order carried by perm
            sources = [self._flat(r) for r in plain]
            offsets = np.cumsum([0, *(int(np.prod(r.shape)) for r in refs)])
            perm = np.concatenate(
                [s.perm + o for s, o in zip(sources, offsets, strict=False)], axis=a
            )
            cat = Concatenate(
                name=name, inputs=tuple(s.name for s in sources), shape=(int(offsets[-1]),), axis=-1
            )
            new = self._emit(cat, out, shape, perm)
        if affines is not None:
            self.onnx_outputs[name] = None
            new = attrs.evolve(new, affine=affines)
        return new

    def _do_Add(self, name, ins, at, out):
        if all(isinstance(v, _Ref) for v in ins):
            return self._add_refs(name, ins, out)
        return self._affine_op(ins, out, "add")

    def _do_Sub(self, name, ins, at, out):
        return self._affine_op(ins, out, "sub")

    def _do_Mul(self, name, ins, at, out):
        return self._affine_op(ins, out, "mul")

    def _do_Div(self, name, ins, at, out):
        return self._affine_op(ins, out, "div")

    def _add_refs(self, name, refs: list[_Ref], out: str) -> _Ref:
        refs = [self._plain(r) for r in refs]
        first = refs[0]
        for r in refs[1:]:
            if r.shape != first.shape:
                raise self.error(f"adding shapes {first.shape} and {r.shape} (no broadcasting)")
            if not np.array_equal(r.perm, first.perm):
                raise self.error("its inputs are held in different orders in the IR")
        if first.is_canonical:
            refs = [self._spatial(r) if len(r.shape) >= 2 else self._flat(r) for r in refs]
        else:
            refs = [self._flat(r) for r in refs]
        shape = self.layers[refs[0].name].shape
        add = Add(name=name, inputs=tuple(r.name for r in refs), shape=shape)
        return self._emit(add, out, first.shape, first.perm)

    def _affine_op(self, ins, out: str, op: str) -> _Ref:
        if not isinstance(ins[0], _Ref):
            if op in ("sub", "div"):
                raise self.error(f"{op} with the data tensor as the second operand")
            ins = [ins[1], ins[0]]
        ref = self._ref(ins, 0)
        c = self._const(ins, 1, "the constant operand").astype(np.float64)
        try:
            c = np.broadcast_to(c, (1, *ref.shape)).reshape(ref.shape)
        except ValueError:
            raise self.error(
                f"the constant of shape {c.shape} does not broadcast to the data tensor "
                f"(N, {', '.join(map(str, ref.shape))}) without changing its shape"
            ) from None
        one, zero = np.ones(ref.shape), np.zeros(ref.shape)
        if op == "div" and np.any(c == 0):
            raise self.error("division by zero")
        if op == "add":
            scale, shift = one, c
        elif op == "sub":
            scale, shift = one, -c
        elif op == "mul":
            scale, shift = c, zero
        else:
            scale, shift = 1.0 / c, zero
        return self._affine(ref, scale, shift, out)

    # -- affine maps (BatchNormalization, arithmetic with constants) ------------------
    def _do_BatchNormalization(self, name, ins, at, out):
        ref = self._ref(ins)
        if at.get("training_mode", 0):
            raise self.error("training_mode=1 (only inference-mode BatchNormalization)")
        gamma, beta, mean, var = (
            self._const(ins, i, what).astype(np.float64)
            for i, what in enumerate(("scale", "B", "mean", "var"), start=1)
        )
        scale = gamma / np.sqrt(var + float(at.get("epsilon", 1e-5)))
        shift = beta - mean * scale
        channels = ref.shape[0]
        if scale.shape != (channels,):
            raise self.error(f"statistics of shape {scale.shape} for {channels} channels")
        bshape = (channels, *(1,) * (len(ref.shape) - 1))
        return self._affine(
            ref,
            np.broadcast_to(scale.reshape(bshape), ref.shape),
            np.broadcast_to(shift.reshape(bshape), ref.shape),
            out,
        )

    def _ir_channel(self, ref: _Ref, array: np.ndarray) -> np.ndarray | None:
        """``array`` (ONNX-shaped) per output channel of ``ref``'s IR layer, or None."""
        layer = self.layers[ref.name]
        flat = np.empty(int(np.prod(ref.shape)))
        flat[ref.perm.ravel()] = array.ravel()
        rows = flat.reshape(-1, layer.shape[-1])
        return rows[0] if np.all(rows == rows[:1]) else None

    def _affine(self, ref: _Ref, scale: np.ndarray, shift: np.ndarray, out: str) -> _Ref:
        if ref.affine is not None:  # compose with the pending one
            s0, c0 = ref.affine
            return self._alias(ref, out, affine=(s0 * scale, c0 * scale + shift))
        prev = self.layers[ref.name]
        foldable = self.uses[ref.name] == 1 and prev.activation == "linear"
        s, c = self._ir_channel(ref, scale), self._ir_channel(ref, shift)
        if foldable and s is not None and c is not None:
            if isinstance(prev, _WEIGHTED):
                self._scale_outputs(prev, s, c)
                return self._alias(ref, out)
            if isinstance(prev, Concatenate) and prev.axis in (-1, len(prev.shape) - 1):
                sources = [self.layers[n] for n in prev.inputs]
                if len(set(prev.inputs)) == len(prev.inputs) and all(
                    isinstance(src, _WEIGHTED)
                    and src.activation == "linear"
                    and self.uses[src.name] == 1
                    for src in sources
                ):
                    start = 0
                    for src in sources:
                        stop = start + src.shape[-1]
                        self._scale_outputs(src, s[start:stop], c[start:stop])
                        self.onnx_outputs[src.name] = None  # a slice of the normalized output
                        start = stop
                    return self._alias(ref, out)
        # fold into the layers that read it (checked there)
        new = self._alias(ref, out, affine=(np.array(scale), np.array(shift)))
        return new

    def _scale_outputs(self, prev: Layer, scale: np.ndarray, shift: np.ndarray) -> None:
        key = "weights" if isinstance(prev, Dense) else "kernel"
        changes = {
            key: getattr(prev, key).astype(np.float64) * scale,
            "bias": prev.bias.astype(np.float64) * scale + shift,
        }
        self.layers[prev.name] = prev.evolve(**changes)


def convert_model(model: Any) -> Network:
    """Convert a loaded ONNX ``ModelProto`` to the snn IR.

    Raises
    ------
    UnsupportedLayerError
        Naming the first node that cannot be converted exactly, its op type and the
        supported op types.
    """
    return _Converter(model).run()


__all__ = ["SUPPORTED_OPS", "convert_model"]
