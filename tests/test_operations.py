"""Operation counts checked by hand on tiny networks, and the conversion transforms."""

from __future__ import annotations

import numpy as np
import pytest

from snn_core.config import Convert, structure
from snn_core.errors import ConfigError
from snn_core.network import Conv, Dense, InputLayer, Network, Pool, Reshape
from snn_core.operations import E_AC_J, E_MAC_J, ann_macs, energy, fan_out_maps
from snn_core.transforms import apply_conversion, quantize_fixed_point


def conv_net(stride: int, pad: int) -> Network:
    """A 1-channel 4x4 input, a 3x3 conv with 2 output channels, then a flatten + dense."""
    out = (4 + 2 * pad - 3) // stride + 1
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(4, 4, 1)),
            Conv(
                name="c",
                inputs=("in",),
                shape=(out, out, 2),
                kernel=np.ones((3, 3, 1, 2), np.float32),
                bias=np.zeros(2, np.float32),
                strides=(stride, stride),
                padding=((pad, pad), (pad, pad)),
                dilation=(1, 1),
                activation="relu",
            ),
            Reshape(name="flat", inputs=("c",), shape=(out * out * 2,)),
            Dense(
                name="d",
                inputs=("flat",),
                shape=(3,),
                weights=np.ones((out * out * 2, 3), np.float32),
                bias=np.zeros(3, np.float32),
            ),
        ]
    )


def test_padded_conv_fan_out_by_hand():
    maps = fan_out_maps(conv_net(stride=1, pad=1))
    # 'same' 3x3 conv on 4x4: a corner pixel is read by the 4 outputs around it, an edge
    # pixel by 6, an inner pixel by 9; each output position has 2 channels
    rows = np.array([2, 3, 3, 2])
    np.testing.assert_array_equal(maps["in"][..., 0], 2 * np.outer(rows, rows))
    # each conv neuron reaches the 3 dense outputs, through the flatten
    np.testing.assert_array_equal(maps["c"], np.full((4, 4, 2), 3.0))
    assert maps["d"].sum() == 0


def test_strided_padded_conv_fan_out_by_hand():
    maps = fan_out_maps(conv_net(stride=2, pad=1))
    # padded input positions 0..5, outputs at windows starting 0 and 2 (size 3):
    # window 0 covers padded 0,1,2 -> inputs 0,1; window 2 covers padded 2,3,4 -> inputs 1,2,3
    per_axis = np.array([1, 2, 1, 1])
    np.testing.assert_array_equal(maps["in"][..., 0], 2 * np.outer(per_axis, per_axis))


def test_ann_macs_count_connections_without_padding():
    net = conv_net(stride=1, pad=1)
    macs = ann_macs(net)
    rows = np.array([2, 3, 3, 2])
    assert macs["c"] == 2 * np.outer(rows, rows).sum()  # 2 * 100 = 200, not 16*9*2 = 288
    assert macs["d"] == 32 * 3
    valid = ann_macs(conv_net(stride=1, pad=0))
    assert valid["c"] == 2 * 2 * 9 * 2  # 2x2 outputs, 9 taps, 2 channels


def test_max_pool_fan_out_counts_windows():
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(3, 3, 1)),
            Pool(
                name="p",
                inputs=("in",),
                shape=(2, 2, 1),
                mode="max",
                pool_size=(2, 2),
                strides=(1, 1),
                padding=((0, 0), (0, 0)),
            ),
        ]
    )
    np.testing.assert_array_equal(fan_out_maps(net)["in"][..., 0], np.outer([1, 2, 1], [1, 2, 1]))


def test_energy_constants_and_block():
    e = energy(1000, [10.0, 20.0], [5.0, 10.0])
    assert e["ann_j_per_sample"] == pytest.approx(1000 * 4.6e-12)
    assert e["snn_j_per_sample"] == pytest.approx([15 * 0.9e-12, 30 * 0.9e-12])
    assert (E_MAC_J, E_AC_J) == (4.6e-12, 0.9e-12)
    assert "Horowitz" in e["source"]


def test_quantize_and_binarize_weights():
    net = conv_net(stride=1, pad=0)
    rng = np.random.default_rng(0)
    w = rng.normal(size=net["d"].weights.shape).astype(np.float32)
    net = net.replace(net["d"].evolve(weights=w, bias=np.array([0.3, -5.0, 0.01], np.float32)))
    conv = structure(Convert, {"quantize_weights": "Q1.4"}, where="[convert]")
    q = apply_conversion(net, conv)["d"]
    assert np.all(np.abs(q.weights * 16 - np.round(q.weights * 16)) < 1e-6)
    assert q.weights.min() >= -2 and q.weights.max() <= 2 - 1 / 16
    np.testing.assert_allclose(q.bias, [0.3125, -2.0, 0.0])
    b = apply_conversion(net, structure(Convert, {"binarize_weights": True}, where="[convert]"))
    d = b["d"].weights
    np.testing.assert_allclose(np.abs(d), np.abs(w).mean(), rtol=1e-6)
    np.testing.assert_array_equal(np.sign(d), np.sign(w))
    assert quantize_fixed_point(np.array([0.49]), 0, 1)[0] == 0.5
    with pytest.raises(ConfigError, match="Qm.f"):
        structure(Convert, {"quantize_weights": "2.6"}, where="[convert]")
