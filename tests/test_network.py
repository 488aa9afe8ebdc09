"""The network IR: graph checks and the HDF5 round trip."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from snn_core.errors import NetworkFormatError
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
    layer_kinds,
)


def every_kind_network() -> Network:
    """A branchy network that uses every layer kind once."""
    rng = np.random.default_rng(0)

    def r(*shape: int) -> np.ndarray:
        return rng.normal(size=shape).astype(np.float32)

    layers = [
        InputLayer(name="in", shape=(8, 8, 2)),
        ZeroPad(name="pad", inputs=("in",), shape=(10, 10, 2), padding=((1, 1), (1, 1))),
        Conv(
            name="conv",
            inputs=("pad",),
            shape=(8, 8, 4),
            kernel=r(3, 3, 2, 4),
            bias=r(4),
            strides=(1, 1),
            padding=((0, 0), (0, 0)),
            dilation=(1, 1),
            activation="relu",
        ),
        Conv(
            name="dw",
            inputs=("conv",),
            shape=(8, 8, 4),
            kernel=r(3, 3, 1, 4),
            bias=r(4),
            strides=(1, 1),
            padding=((1, 1), (1, 1)),
            dilation=(1, 1),
            groups=4,
        ),
        Add(name="add", inputs=("conv", "dw"), shape=(8, 8, 4), activation="relu"),
        Pool(
            name="pool",
            inputs=("add",),
            shape=(4, 4, 4),
            mode="max",
            pool_size=(2, 2),
            strides=(2, 2),
            padding=((0, 0), (0, 0)),
        ),
        UpSample(name="up", inputs=("pool",), shape=(8, 8, 4), size=(2, 2)),
        ConvTranspose(
            name="tconv",
            inputs=("pool",),
            shape=(8, 8, 4),
            kernel=r(2, 2, 4, 4),
            bias=r(4),
            strides=(2, 2),
            padding=((0, 0), (0, 0)),
            output_padding=(0, 0),
            dilation=(1, 1),
        ),
        Concatenate(name="cat", inputs=("up", "tconv"), shape=(8, 8, 8), axis=-1),
        GlobalAveragePool(name="gap", inputs=("cat",), shape=(8,)),
        Reshape(name="flat", inputs=("gap",), shape=(8,)),
        Dense(
            name="fc",
            inputs=("flat",),
            shape=(3,),
            weights=r(8, 3),
            bias=r(3),
            activation="softmax",
        ),
    ]
    return Network.from_layers(layers, metadata={"source": "test", "scales": [1.0, 2.5]})


def test_every_layer_kind_is_covered_by_the_round_trip_network() -> None:
    used = {lay.kind for lay in every_kind_network()}
    assert used == set(layer_kinds()) - {"Layer"}


def test_h5_round_trip_keeps_every_field(tmp_path) -> None:
    net = every_kind_network()
    path = net.save(tmp_path / "net.h5")
    again = Network.load(path)
    assert again.outputs == net.outputs
    assert again.metadata == net.metadata
    for a, b in zip(net, again, strict=True):
        assert type(a) is type(b)
        for name, value in vars_of(a).items():
            other = vars_of(b)[name]
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, other)
                assert other.dtype == np.float32
            else:
                assert value == other, (a.name, name)


def vars_of(layer):
    import attrs

    return {f.name: getattr(layer, f.name) for f in attrs.fields(type(layer))}


def test_graph_checks() -> None:
    inp = InputLayer(name="in", shape=(2,))
    dense = Dense(name="fc", inputs=("in",), shape=(2,), weights=np.eye(2), bias=np.zeros(2))
    with pytest.raises(NetworkFormatError, match="two layers are named 'in'"):
        Network.from_layers([inp, inp])
    with pytest.raises(NetworkFormatError, match="reads 'nope'"):
        Network.from_layers([inp, dense.evolve(inputs=("nope",))])
    with pytest.raises(NetworkFormatError, match="exactly one input layer"):
        Network.from_layers([inp, InputLayer(name="in2", shape=(2,)), dense])
    with pytest.raises(NetworkFormatError, match="output 'x'"):
        Network.from_layers([inp, dense], outputs=["x"])
    with pytest.raises(ValueError, match="activation 'tanh'"):
        dense.evolve(activation="tanh")


def test_navigation_and_replace() -> None:
    net = every_kind_network()
    assert net.input.name == "in" and net.output.name == "fc"
    assert [lay.name for lay in net.consumers("pool")] == ["up", "tconv"]
    new = net.replace(net["fc"].evolve(activation="relu"))
    assert new["fc"].activation == "relu" and net["fc"].activation == "softmax"
    assert "Dense [relu]" in new.summary()


def test_load_rejects_files_that_are_not_ours(tmp_path) -> None:
    with pytest.raises(NetworkFormatError, match="no such parsed-network file"):
        Network.load(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(NetworkFormatError, match="not an HDF5 file"):
        Network.load(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["model_config"] = "{}"
    with pytest.raises(NetworkFormatError, match="not an snn parsed-network file"):
        Network.load(tmp_path / "other.h5")


def test_load_rejects_a_newer_format(tmp_path) -> None:
    path = every_kind_network().save(tmp_path / "net.h5")
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(NetworkFormatError, match="newer snn .*format 99"):
        Network.load(path)
