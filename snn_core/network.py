"""The framework-free network IR and its HDF5 file format.

A :class:`Network` is an ordered tuple of layers (topologically sorted) that name their
inputs, so branches (:class:`Concatenate`, :class:`Add`) are plain data. Every layer
carries its output shape (without the batch axis) and its parameters as numpy arrays.

Conventions
-----------
* Layout is channels-last everywhere: a 2-D feature map has shape ``(H, W, C)``, a 1-D one
  ``(L, C)``. Parsers of channels-first frameworks (ONNX) convert at the boundary.
* Padding is explicit: ``padding`` holds one ``(before, after)`` pair per spatial axis;
  parsers resolve Keras' ``"same"`` into numbers so that backends never guess.
* Convolution kernels have shape ``(*kernel_size, in_channels // groups, out_channels)``
  (Keras' layout). Depthwise convolution is a :class:`Conv` with ``groups == in_channels``.
* ``activation`` is one of :data:`ACTIVATIONS`; every layer may carry one, so a ReLU that
  follows an :class:`Add` is not lost.

Example
-------
>>> import numpy as np
>>> net = Network.from_layers([
...     InputLayer(name="input", shape=(4,)),
...     Dense(name="fc", inputs=("input",), shape=(2,), weights=np.ones((4, 2), "f4"),
...           bias=np.zeros(2, "f4"), activation="relu"),
... ])
>>> net.output.name
'fc'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np

from snn_core.errors import NetworkFormatError

#: Activations a layer may carry.
ACTIVATIONS = ("linear", "relu", "softmax")

#: Identifies our HDF5 files, and the version of their layout.
FILE_FORMAT = "snn-network"
FORMAT_VERSION = 1

_LAYER_KINDS: dict[str, type[Layer]] = {}


def _tuple_of_ints(value: Iterable[Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


def _pairs(value: Iterable[Iterable[Any]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in value)


def _array(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def _check_activation(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in ACTIVATIONS:
        raise ValueError(
            f"layer {instance.name!r}: activation {value!r} is not one of {ACTIVATIONS}"
        )


@attrs.frozen(eq=False, kw_only=True)
class Layer:
    """Base of all layers.

    Parameters
    ----------
    name
        Unique name within the network.
    inputs
        Names of the layers whose outputs feed this one, in order.
    shape
        Output shape without the batch axis.
    activation
        One of :data:`ACTIVATIONS`.
    """

    kind: ClassVar[str] = "Layer"
    #: Whether the layer holds neurons in a spiking network (it integrates and fires).
    spiking: ClassVar[bool] = False

    name: str
    inputs: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    shape: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)
    activation: str = attrs.field(default="linear", validator=_check_activation)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind = cls.__name__
        _LAYER_KINDS[cls.kind] = cls

    @property
    def num_neurons(self) -> int:
        """Number of units in the output (product of :attr:`shape`)."""
        return int(np.prod(self.shape))

    def arrays(self) -> dict[str, np.ndarray]:
        """The layer's numpy parameters by field name."""
        return {
            f.name: getattr(self, f.name)
            for f in attrs.fields(type(self))
            if isinstance(getattr(self, f.name), np.ndarray)
        }

    def evolve(self, **changes: Any) -> Layer:
        """Return a copy with ``changes`` applied (layers are immutable)."""
        return attrs.evolve(self, **changes)


@attrs.frozen(eq=False, kw_only=True)
class InputLayer(Layer):
    """The network input; ``shape`` is one sample's shape (channels last)."""


@attrs.frozen(eq=False, kw_only=True)
class Dense(Layer):
    """Fully connected layer: ``y = x @ weights + bias``; ``weights`` is ``(n_in, n_out)``."""

    spiking: ClassVar[bool] = True
    weights: np.ndarray = attrs.field(converter=_array)
    bias: np.ndarray = attrs.field(converter=_array)


@attrs.frozen(eq=False, kw_only=True)
class Conv(Layer):
    """N-d convolution (1-D or 2-D), grouped or depthwise.

    ``kernel`` has shape ``(*kernel_size, in_channels // groups, out_channels)``;
    ``padding`` one ``(before, after)`` pair per spatial axis.
    """

    spiking: ClassVar[bool] = True
    kernel: np.ndarray = attrs.field(converter=_array)
    bias: np.ndarray = attrs.field(converter=_array)
    strides: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)
    padding: tuple[tuple[int, int], ...] = attrs.field(converter=_pairs)
    dilation: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)
    groups: int = 1

    @property
    def rank(self) -> int:
        """Number of spatial axes."""
        return self.kernel.ndim - 2


@attrs.frozen(eq=False, kw_only=True)
class ConvTranspose(Layer):
    """Transposed 2-D convolution (Keras ``Conv2DTranspose``).

    ``kernel`` has shape ``(kh, kw, in_channels, out_channels)``. The output is the full
    transposed convolution, cropped by ``padding`` (one ``(before, after)`` pair per axis)
    and extended by ``output_padding`` at the end of each axis.
    """

    spiking: ClassVar[bool] = True
    kernel: np.ndarray = attrs.field(converter=_array)
    bias: np.ndarray = attrs.field(converter=_array)
    strides: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)
    padding: tuple[tuple[int, int], ...] = attrs.field(converter=_pairs)
    output_padding: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)
    dilation: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)


@attrs.frozen(eq=False, kw_only=True)
class Pool(Layer):
    """Max or average pooling over 1 or 2 spatial axes.

    Average pooling divides by the number of non-padded elements in the window
    unless ``count_include_pad`` is true.
    """

    spiking: ClassVar[bool] = True
    mode: str = attrs.field(validator=attrs.validators.in_(("max", "avg")))
    pool_size: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)
    strides: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)
    padding: tuple[tuple[int, int], ...] = attrs.field(converter=_pairs)
    count_include_pad: bool = False


@attrs.frozen(eq=False, kw_only=True)
class GlobalAveragePool(Layer):
    """Mean over all spatial axes; output shape ``(channels,)``."""

    spiking: ClassVar[bool] = True


@attrs.frozen(eq=False, kw_only=True)
class UpSample(Layer):
    """Nearest-neighbour upsampling by an integer factor per spatial axis."""

    spiking: ClassVar[bool] = True
    size: tuple[int, ...] = attrs.field(converter=_tuple_of_ints)


@attrs.frozen(eq=False, kw_only=True)
class ZeroPad(Layer):
    """Zero padding, one ``(before, after)`` pair per spatial axis."""

    padding: tuple[tuple[int, int], ...] = attrs.field(converter=_pairs)


@attrs.frozen(eq=False, kw_only=True)
class Reshape(Layer):
    """Row-major (C order) reshape to :attr:`shape`; Flatten is ``Reshape`` to ``(n,)``."""


@attrs.frozen(eq=False, kw_only=True)
class Concatenate(Layer):
    """Concatenation of the inputs along ``axis`` (of the sample shape; -1 = channels)."""

    axis: int = -1


@attrs.frozen(eq=False, kw_only=True)
class Add(Layer):
    """Element-wise sum of the inputs (residual connections)."""

    spiking: ClassVar[bool] = True


def layer_kinds() -> Mapping[str, type[Layer]]:
    """All layer classes by :attr:`Layer.kind`."""
    return dict(_LAYER_KINDS)


@attrs.frozen(eq=False)
class Network:
    """A directed acyclic graph of layers, kept in topological order.

    Build one with :meth:`from_layers`, which checks the graph. The last layer listed
    in ``outputs`` is the classifier output.
    """

    layers: tuple[Layer, ...] = attrs.field(converter=tuple)
    outputs: tuple[str, ...] = attrs.field(converter=tuple)
    #: Free-form, JSON-serialisable facts (source file, parser, normalisation scales...).
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_layers(
        cls,
        layers: Iterable[Layer],
        outputs: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Network:
        """Build and check a network; ``outputs`` defaults to the last layer."""
        layers = tuple(layers)
        if not layers:
            raise NetworkFormatError("a network needs at least one layer")
        net = cls(layers, tuple(outputs) if outputs else (layers[-1].name,), dict(metadata or {}))
        net.check()
        return net

    def check(self) -> None:
        """Raise :class:`NetworkFormatError` unless names are unique, inputs come earlier
        in the order, and there is exactly one :class:`InputLayer`."""
        seen: set[str] = set()
        for layer in self.layers:
            if layer.name in seen:
                raise NetworkFormatError(f"two layers are named {layer.name!r}")
            for src in layer.inputs:
                if src not in seen:
                    raise NetworkFormatError(
                        f"layer {layer.name!r} reads {src!r}, which is not an earlier layer"
                    )
            if isinstance(layer, InputLayer) == bool(layer.inputs):
                raise NetworkFormatError(
                    f"layer {layer.name!r}: an InputLayer has no inputs, every other layer has some"
                )
            seen.add(layer.name)
        inputs = [lay for lay in self.layers if isinstance(lay, InputLayer)]
        if len(inputs) != 1:
            raise NetworkFormatError(f"a network has exactly one input layer, found {len(inputs)}")
        for out in self.outputs:
            if out not in seen:
                raise NetworkFormatError(f"output {out!r} is not a layer of the network")

    # -- navigation -------------------------------------------------------------------
    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; layers are {[lay.name for lay in self.layers]}")

    @property
    def input(self) -> InputLayer:
        """The input layer."""
        return next(lay for lay in self.layers if isinstance(lay, InputLayer))  # type: ignore[return-value]

    @property
    def output(self) -> Layer:
        """The classifier output layer (the first of :attr:`outputs`)."""
        return self[self.outputs[0]]

    def consumers(self, name: str) -> list[Layer]:
        """Layers that read the output of layer ``name``."""
        return [lay for lay in self.layers if name in lay.inputs]

    def replace(self, *layers: Layer) -> Network:
        """Return a network in which the given layers replace those of the same name."""
        new = {lay.name: lay for lay in layers}
        unknown = set(new) - {lay.name for lay in self.layers}
        if unknown:
            raise KeyError(f"no layers named {sorted(unknown)}")
        return attrs.evolve(self, layers=tuple(new.get(lay.name, lay) for lay in self.layers))

    def with_metadata(self, **items: Any) -> Network:
        """Return a copy whose metadata has ``items`` added."""
        return attrs.evolve(self, metadata={**self.metadata, **items})

    def summary(self) -> str:
        """A one-line-per-layer table of kind, name, inputs and output shape."""
        rows = [f"{'kind':<18}{'name':<24}{'shape':<18}inputs"]
        for lay in self.layers:
            act = "" if lay.activation == "linear" else f" [{lay.activation}]"
            rows.append(
                f"{lay.kind + act:<18}{lay.name:<24}{lay.shape!s:<18}{', '.join(lay.inputs)}"
            )
        return "\n".join(rows)

    # -- HDF5 file --------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the network to an HDF5 file (the "parsed model" file) and return its path."""
        import h5py

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FILE_FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["outputs"] = json.dumps(list(self.outputs))
            f.attrs["metadata"] = json.dumps(self.metadata, default=_json_default)
            group = f.create_group("layers")
            for index, layer in enumerate(self.layers):
                g = group.create_group(f"{index:04d}")
                g.attrs["kind"] = layer.kind
                scalars: dict[str, Any] = {}
                for field in attrs.fields(type(layer)):
                    value = getattr(layer, field.name)
                    if isinstance(value, np.ndarray):
                        g.create_dataset(field.name, data=value)
                    else:
                        scalars[field.name] = value
                g.attrs["fields"] = json.dumps(scalars)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Read a network written by :meth:`save`.

        Raises
        ------
        NetworkFormatError
            If the file is missing, not an HDF5 file, not ours, or from a newer version.
        """
        import h5py

        path = Path(path)
        if not path.is_file():
            raise NetworkFormatError(f"{path}: no such parsed-network file")
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise NetworkFormatError(f"{path}: not an HDF5 file ({exc})") from None
        with f:
            if f.attrs.get("format") != FILE_FORMAT:
                raise NetworkFormatError(
                    f"{path}: not an snn parsed-network file (no format={FILE_FORMAT!r} "
                    "attribute); parse the model again with [stages] parse = true"
                )
            version = int(f.attrs.get("format_version", -1))
            if version > FORMAT_VERSION:
                raise NetworkFormatError(
                    f"{path}: written by a newer snn (file format {version}, this version "
                    f"reads up to {FORMAT_VERSION}); upgrade snn-core or parse the model again"
                )
            layers = []
            for key in sorted(f["layers"]):
                g = f["layers"][key]
                kind = g.attrs["kind"]
                if kind not in _LAYER_KINDS:
                    raise NetworkFormatError(f"{path}: layer {key} has unknown kind {kind!r}")
                kwargs = {k: _tuplify(v) for k, v in json.loads(g.attrs["fields"]).items()}
                for name in g:
                    kwargs[name] = np.asarray(g[name])
                layers.append(_LAYER_KINDS[kind](**kwargs))
            return cls.from_layers(
                layers, json.loads(f.attrs["outputs"]), json.loads(f.attrs["metadata"])
            )


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in network metadata")
