"""Every layer kind: the TensorFlow ops equal the numpy reference of snn_core.ann."""

from __future__ import annotations

import numpy as np
import pytest
from snn_sim_ini.ann import build_forward
from snn_sim_ini.ops import SUPPORTED_KINDS

from snn_core.ann import forward
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

RNG = np.random.default_rng(42)


def _w(*shape: int) -> np.ndarray:
    return RNG.normal(0, 0.5, shape).astype(np.float32)


def conv(
    name, src, cin, cout, shape, k=(3, 3), s=(1, 1), p=((1, 1), (1, 1)), d=(1, 1), g=1, act="relu"
) -> Conv:
    return Conv(
        name=name,
        inputs=(src,),
        shape=shape,
        kernel=_w(*k, cin // g, cout),
        bias=_w(cout),
        strides=s,
        padding=p,
        dilation=d,
        groups=g,
        activation=act,
    )


def net_2d() -> Network:
    """A branching 2-D network using every layer kind."""
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(9, 9, 4)),
            conv("c_same", "in", 4, 6, (9, 9, 6)),
            conv(
                "c_stride_asym_pad",
                "c_same",
                6,
                4,
                (5, 4, 4),
                k=(3, 2),
                s=(2, 2),
                p=((1, 1), (0, 0)),
            ),
            conv("c_grouped", "c_same", 6, 6, (9, 9, 6), g=2, act="linear"),
            conv("c_depthwise", "c_same", 6, 12, (9, 9, 12), g=6),
            conv("c_depthwise_asym_stride", "c_same", 6, 6, (5, 9, 6), s=(2, 1), g=6),
            conv(
                "c_dilated_strided",
                "c_same",
                6,
                5,
                (3, 3, 5),
                s=(2, 2),
                d=(2, 2),
                p=((0, 0), (0, 0)),
            ),
            conv("c_dilated", "c_same", 6, 3, (9, 9, 3), d=(2, 2), p=((2, 2), (2, 2))),
            ConvTranspose(
                name="ct",
                inputs=("c_stride_asym_pad",),
                shape=(10, 8, 3),
                kernel=_w(3, 3, 4, 3),
                bias=_w(3),
                strides=(2, 2),
                padding=((1, 1), (1, 1)),
                output_padding=(1, 1),
                dilation=(1, 1),
                activation="relu",
            ),
            ConvTranspose(
                name="ct_extend",
                inputs=("c_stride_asym_pad",),
                shape=(11, 9, 2),
                kernel=_w(2, 2, 4, 2),
                bias=_w(2),
                strides=(2, 2),
                padding=((0, 0), (0, 0)),
                output_padding=(1, 1),
                dilation=(1, 1),
            ),
            ConvTranspose(
                name="ct_dilated",
                inputs=("c_stride_asym_pad",),
                shape=(13, 11, 2),
                kernel=_w(3, 3, 4, 2),
                bias=_w(2),
                strides=(2, 2),
                padding=((0, 0), (0, 0)),
                output_padding=(0, 0),
                dilation=(2, 2),
            ),
            Pool(
                name="max_pad",
                inputs=("c_same",),
                shape=(5, 5, 6),
                mode="max",
                pool_size=(3, 3),
                strides=(2, 2),
                padding=((1, 1), (1, 1)),
            ),
            Pool(
                name="avg_pad",
                inputs=("c_same",),
                shape=(5, 5, 6),
                mode="avg",
                pool_size=(3, 3),
                strides=(2, 2),
                padding=((1, 1), (1, 1)),
            ),
            Pool(
                name="avg_pad_incl",
                inputs=("c_same",),
                shape=(5, 5, 6),
                mode="avg",
                pool_size=(3, 3),
                strides=(2, 2),
                padding=((1, 1), (1, 1)),
                count_include_pad=True,
            ),
            Pool(
                name="avg",
                inputs=("c_same",),
                shape=(4, 4, 6),
                mode="avg",
                pool_size=(2, 2),
                strides=(2, 2),
                padding=((0, 0), (0, 0)),
            ),
            Pool(
                name="max_overlap",
                inputs=("c_same",),
                shape=(7, 7, 6),
                mode="max",
                pool_size=(3, 3),
                strides=(1, 1),
                padding=((0, 0), (0, 0)),
            ),
            UpSample(name="up", inputs=("avg",), shape=(8, 12, 6), size=(2, 3)),
            ZeroPad(name="zp", inputs=("avg",), shape=(5, 7, 6), padding=((0, 1), (2, 1))),
            Add(
                name="add",
                inputs=("max_pad", "avg_pad", "avg_pad_incl"),
                shape=(5, 5, 6),
                activation="relu",
            ),
            Concatenate(name="cat", inputs=("add", "max_pad"), shape=(5, 5, 12), axis=-1),
            Concatenate(name="cat_h", inputs=("add", "max_pad"), shape=(10, 5, 6), axis=0),
            GlobalAveragePool(name="gap", inputs=("cat",), shape=(12,)),
            Dense(name="dense_3d", inputs=("zp",), shape=(5, 7, 4), weights=_w(6, 4), bias=_w(4)),
            Reshape(name="flat", inputs=("cat_h",), shape=(300,)),
            Dense(
                name="fc",
                inputs=("flat",),
                shape=(7,),
                weights=_w(300, 7),
                bias=_w(7),
                activation="relu",
            ),
            Dense(
                name="out",
                inputs=("gap",),
                shape=(5,),
                weights=_w(12, 5),
                bias=_w(5),
                activation="softmax",
            ),
        ]
    )


def net_1d() -> Network:
    """1-D convolutions and pools."""
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(12, 3)),
            conv("c1", "in", 3, 4, (12, 4), k=(3,), s=(1,), p=((1, 1),), d=(1,)),
            conv("c1_stride", "c1", 4, 4, (6, 4), k=(3,), s=(2,), p=((1, 1),), d=(1,), g=4),
            conv("c1_dil", "c1", 4, 2, (10, 2), k=(2,), s=(1,), p=((0, 0),), d=(2,), g=2),
            Pool(
                name="p1max",
                inputs=("c1",),
                shape=(6, 4),
                mode="max",
                pool_size=(3,),
                strides=(2,),
                padding=((1, 0),),
            ),
            Pool(
                name="p1avg",
                inputs=("c1",),
                shape=(6, 4),
                mode="avg",
                pool_size=(3,),
                strides=(2,),
                padding=((1, 0),),
            ),
            UpSample(name="up1", inputs=("p1avg",), shape=(12, 4), size=(2,)),
            ZeroPad(name="zp1", inputs=("p1max",), shape=(9, 4), padding=((1, 2),)),
            GlobalAveragePool(name="gap1", inputs=("c1_stride",), shape=(4,)),
            Dense(name="out", inputs=("gap1",), shape=(3,), weights=_w(4, 3), bias=_w(3)),
        ]
    )


@pytest.mark.parametrize("make", [net_2d, net_1d])
def test_build_forward_matches_numpy_reference_for_every_layer(make) -> None:
    network = make()
    names = [layer.name for layer in network]
    x = RNG.normal(0, 1, (3, *network.input.shape)).astype(np.float32)
    expected = forward(network, x, outputs=names)
    got = build_forward(network, outputs=names)(x)
    for name in names:
        np.testing.assert_allclose(
            got[name].numpy(), expected[name], rtol=1e-5, atol=1e-5, err_msg=name
        )


def test_every_ir_layer_kind_is_covered() -> None:
    covered = {layer.kind for make in (net_2d, net_1d) for layer in make()}
    assert covered == SUPPORTED_KINDS


def test_default_output_is_one_tensor() -> None:
    network = net_1d()
    x = RNG.normal(0, 1, (2, 12, 3)).astype(np.float32)
    np.testing.assert_allclose(
        build_forward(network)(x).numpy(), forward(network, x)["out"], rtol=1e-5, atol=1e-5
    )
