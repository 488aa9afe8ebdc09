"""Reading an ONNX graph: attributes, the data input, tensor use counts, constant folding.

Everything the exporters compute from constants (weights transposed by a node, the shape
arithmetic around ``Flatten``/``Reshape``: ``Shape``, ``Gather``, ``Unsqueeze``, ``Concat``,
``Cast``...) is evaluated here with onnx's own reference implementation of each operator
(:class:`onnx.reference.ReferenceEvaluator`), so the converter only ever sees numbers.

The batch size of a model is usually symbolic. While folding, a ``Shape`` of a data tensor
reports :data:`BATCH` for its first axis: a stand-in value that the converter recognises
when it resolves a ``Reshape`` target, and that arithmetic on it (``Mul``, ``Div``...)
carries through like a real batch size would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from snn_core.errors import UnsupportedLayerError

#: Stand-in for the symbolic batch size while folding shape arithmetic.
BATCH = 1_000_003


def attributes(node: Any) -> dict[str, Any]:
    """A node's attributes as Python values (strings decoded, tensors as numpy arrays)."""
    from onnx import helper, numpy_helper

    out: dict[str, Any] = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif hasattr(value, "dims") and hasattr(value, "data_type"):
            value = numpy_helper.to_array(value)
        elif isinstance(value, list):
            value = [v.decode() if isinstance(v, bytes) else v for v in value]
        out[attr.name] = value
    return out


def node_label(node: Any, index: int) -> str:
    """How messages name a node: its name (or its index) and op type."""
    name = node.name or f"#{index}"
    return f"ONNX node {name!r} ({node.op_type})"


def opset_version(model: Any) -> int:
    """The version of the default ("ai.onnx") operator set the model imports."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 1


def initializers(graph: Any) -> dict[str, np.ndarray]:
    """The graph's initializers (weights, constant shapes) by tensor name."""
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in graph.initializer}


def data_inputs(graph: Any) -> list[Any]:
    """Graph inputs that are not initializers (old exporters list weights as inputs too)."""
    constant = {t.name for t in graph.initializer}
    return [i for i in graph.input if i.name not in constant]


def input_dims(value_info: Any) -> tuple[int | str | None, ...]:
    """Dimensions of a graph input: int when fixed, the symbol's name, or None if unknown."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return ()
    dims: list[int | str | None] = []
    for d in tensor.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return tuple(dims)


def tensor_uses(graph: Any) -> dict[str, int]:
    """How many node inputs (plus graph outputs) read each tensor."""
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            if name:
                uses[name] = uses.get(name, 0) + 1
    for out in graph.output:
        uses[out.name] = uses.get(out.name, 0) + 1
    return uses


def fold(node: Any, label: str, inputs: Sequence[np.ndarray | None], opset: int) -> list[Any]:
    """Evaluate ``node`` on constant ``inputs`` with onnx's reference implementation.

    Raises
    ------
    UnsupportedLayerError
        If onnx cannot evaluate the node (naming the node and the cause).
    """
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    names = [f"in{i}" if x is not None else "" for i, x in enumerate(inputs)]
    outs = [f"out{i}" for i in range(len(node.output))]
    clone = helper.make_node(node.op_type, names, outs, domain=node.domain or None)
    clone.attribute.extend(node.attribute)
    feeds = {n: x for n, x in zip(names, inputs, strict=True) if n}
    try:
        evaluator = ReferenceEvaluator(clone, opsets={node.domain or "": opset})
        return list(evaluator.run(None, feeds))
    except Exception as exc:  # the reference ops raise many types
        raise UnsupportedLayerError(
            f"{label}: its inputs are all constants, but evaluating it failed "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''})"
        ) from exc


__all__ = [
    "BATCH",
    "attributes",
    "data_inputs",
    "fold",
    "initializers",
    "input_dims",
    "node_label",
    "opset_version",
    "tensor_uses",
]
