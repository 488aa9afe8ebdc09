"""Parsed networks compute what the Keras models compute, layer by layer (.keras and .h5)."""

from __future__ import annotations

import numpy as np
import pytest
from snn_keras_testutil import compare, randomize
from snn_parser_keras import KerasParser

from snn_core.ann import forward
from snn_core.network import Concatenate, Conv, ConvTranspose, Dense, Pool, Reshape

keras = pytest.importorskip("keras")
layers = keras.layers


def data(*shape, seed=1):
    return np.random.default_rng(seed).normal(size=(6, *shape)).astype(np.float32)


def test_sequential_mlp(check):
    model = keras.Sequential(
        [
            keras.Input((8,)),
            layers.Dense(16, activation="relu", name="d1"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(12, name="d2"),
            layers.BatchNormalization(name="bn"),
            layers.Activation("relu", name="act"),
            layers.Dense(4, use_bias=False, name="d3"),
            layers.Softmax(name="soft"),
        ],
        name="mlp",
    )
    net = check(randomize(model), data(8), min_layers=3)
    assert [lay.kind for lay in net.layers] == ["InputLayer", "Dense", "Dense", "Dense"]
    assert [lay.activation for lay in net.layers[1:]] == ["relu", "relu", "softmax"]
    assert net.metadata["keras_outputs"]["d2"] == "act"


def test_batchnorm_before_dense(check):
    inp = keras.Input((6,))
    x = layers.BatchNormalization(name="bn_in")(inp)
    x = layers.Dense(5, name="d1")(x)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.BatchNormalization(name="bn2")(x)  # after an activation: into the next Dense
    out = layers.Dense(3, name="d2")(x)
    net = check(randomize(keras.Model(inp, out, name="bn_dense")), data(6))
    assert [lay.kind for lay in net.layers] == ["InputLayer", "Dense", "Dense"]


def test_conv2d_strides_dilation_padding(check):
    inp = keras.Input((12, 11, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="c1")(inp)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="r1")(x)
    x = layers.Conv2D(6, 3, dilation_rate=2, activation="relu", name="c2")(x)
    x = layers.Conv2D(4, (2, 3), strides=(1, 2), padding="same", use_bias=False, name="c3")(x)
    x = layers.Conv2D(4, 2, dilation_rate=(1, 2), padding="same", name="c4")(x)
    x = layers.Flatten(name="flat")(x)
    out = layers.Dense(5, activation="softmax", name="out")(x)
    net = check(randomize(keras.Model(inp, out, name="convs")), data(12, 11, 3), min_layers=6)
    assert net["c3"].padding == ((0, 1), (0, 1))  # TF puts the odd pad after


def test_grouped_conv(check):
    inp = keras.Input((6, 6, 4))
    out = layers.Conv2D(6, 3, groups=2, padding="same", name="g")(inp)
    model = randomize(keras.Model(inp, out, name="grouped"))
    try:
        model(data(6, 6, 4))
    except Exception as exc:  # TF's CPU kernels lack grouped convolution
        pytest.skip(f"Keras cannot run a grouped Conv2D here: {str(exc)[:120]}")
    net = check(model, data(6, 6, 4))
    assert net["g"].groups == 2


def test_depthwise(check):
    inp = keras.Input((10, 10, 4))
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same", name="dw1")(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.DepthwiseConv2D(3, dilation_rate=2, activation="relu", name="dw2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(3, name="out")(x)
    net = check(randomize(keras.Model(inp, out, name="depthwise")), data(10, 10, 4))
    assert net["dw1"].groups == 4 and net["dw1"].kernel.shape == (3, 3, 1, 8)


@pytest.mark.parametrize(
    ("kwargs", "shape"),
    [
        ({"strides": 2, "padding": "same"}, (5, 5, 3)),
        ({"strides": 2, "padding": "valid"}, (5, 4, 3)),
        ({"strides": 2, "padding": "same", "output_padding": 0}, (4, 5, 3)),
        ({"strides": (2, 3), "padding": "valid", "output_padding": (1, 2)}, (3, 4, 3)),
    ],
)
def test_conv_transpose(check, kwargs, shape):
    # (TF's CPU kernels cannot run a dilated transposed convolution; tests/test_ann.py
    # checks the IR's dilated ConvTranspose by hand.)
    inp = keras.Input(shape)
    x = layers.Conv2DTranspose(4, 3, name="ct1", **kwargs)(inp)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    out = layers.Conv2DTranspose(2, 2, strides=2, name="ct2")(x)
    model = randomize(keras.Model(inp, out, name="transpose"))
    net = check(model, data(*shape))
    assert isinstance(net["ct1"], ConvTranspose)


def test_residual_blocks(check):
    inp = keras.Input((8, 8, 4))
    x = layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU(name="r1")(x)
    x = layers.Conv2D(4, 3, padding="same", name="c2")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.Add(name="add1")([x, inp])
    x = layers.ReLU(name="r2")(x)
    y = layers.Conv2D(8, 3, strides=2, padding="same", name="c3")(x)
    y = layers.BatchNormalization(name="bn3")(y)
    shortcut = layers.Conv2D(8, 1, strides=2, name="short")(x)
    x = layers.Add(name="add2")([y, shortcut])
    x = layers.Activation("relu", name="r3")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(3, activation="softmax", name="out")(x)
    net = check(randomize(keras.Model(inp, out, name="resnet")), data(8, 8, 4), min_layers=8)
    assert net["add1"].activation == "relu" and net["add2"].activation == "relu"
    assert net.metadata["keras_outputs"]["c2"] == "bn2"


def test_concatenate_then_batchnorm(check):
    inp = keras.Input((8, 8, 2))
    a = layers.Conv2D(3, 3, padding="same", name="a")(inp)
    b = layers.Conv2D(5, 1, name="b")(inp)
    c = layers.DepthwiseConv2D(3, padding="same", name="c")(inp)
    x = layers.Concatenate(name="cat")([a, b, c])
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    out = layers.Dense(4, name="out")(x)
    net = check(randomize(keras.Model(inp, out, name="concat_bn")), data(8, 8, 2))
    assert isinstance(net["cat"], Concatenate) and net["cat"].activation == "relu"
    assert net.metadata["keras_outputs"]["cat"] == "relu"
    assert net.metadata["keras_outputs"]["a"] is None  # holds a normalized slice


def test_batchnorm_before_unpadded_conv_and_flatten(check):
    inp = keras.Input((9, 9, 3))
    x = layers.BatchNormalization(name="bn_in")(inp)
    x = layers.Conv2D(4, 3, activation="relu", name="c1")(x)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.DepthwiseConv2D(2, strides=2, name="dw")(x)
    x = layers.BatchNormalization(name="bn2")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.BatchNormalization(name="bn3")(x)
    x = layers.Flatten(name="flat")(x)
    out = layers.Dense(3, name="out")(x)
    net = check(randomize(keras.Model(inp, out, name="bn_before")), data(9, 9, 3))
    kinds = [lay.kind for lay in net.layers]
    assert kinds == ["InputLayer", "Conv", "Conv", "Reshape", "Dense"]


def test_pooling_padding_upsampling_reshape(check):
    inp = keras.Input((9, 9, 3))
    x = layers.ZeroPadding2D(((1, 0), (2, 1)), name="pad")(inp)
    x = layers.MaxPooling2D(3, strides=2, name="mp")(x)
    x = layers.AveragePooling2D(2, padding="same", name="ap")(x)
    x = layers.UpSampling2D((2, 3), name="up")(x)
    x = layers.Conv2D(4, 3, name="conv")(x)
    a = layers.GlobalMaxPooling2D(name="gmp")(x)
    b = layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    b = layers.Reshape((4,), name="squeeze")(b)
    x = layers.Concatenate(name="cat")([a, b])
    x = layers.Dense(16, name="d16")(x)
    x = layers.Reshape((4, 4, 1), name="to_map")(x)
    x = layers.MaxPooling2D(2, padding="same", strides=3, name="mp2")(x)
    x = layers.Flatten(name="flat")(x)
    out = layers.Dense(3, name="out")(x)
    net = check(randomize(keras.Model(inp, out, name="misc")), data(9, 9, 3), min_layers=12)
    assert isinstance(net["gmp"], Reshape) and isinstance(net["gmp_pool"], Pool)
    assert net["ap"].padding != ((0, 0), (0, 0)) and not net["ap"].count_include_pad


def test_dense_on_feature_map(check):
    inp = keras.Input((4, 4, 3))
    x = layers.Dense(5, activation="relu", name="per_pixel")(inp)
    x = layers.Flatten(name="flat")(x)
    out = layers.Dense(2, name="out")(x)
    check(randomize(keras.Model(inp, out, name="dense_map")), data(4, 4, 3))


def test_conv1d_family(check):
    inp = keras.Input((20, 3))
    x = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu", name="c1")(inp)
    x = layers.MaxPooling1D(2, name="mp")(x)
    x = layers.ZeroPadding1D((1, 2), name="pad")(x)
    x = layers.Conv1D(5, 3, strides=2, padding="same", name="c2")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.AveragePooling1D(2, padding="same", name="ap")(x)
    x = layers.UpSampling1D(2, name="up")(x)
    a = layers.GlobalAveragePooling1D(name="gap")(x)
    b = layers.GlobalMaxPooling1D(name="gmp")(x)
    x = layers.Add(name="add")([a, b])
    out = layers.Dense(3, name="out")(x)
    check(randomize(keras.Model(inp, out, name="conv1d")), data(20, 3), min_layers=9)


def test_channels_first(check):
    """The layers TensorFlow's CPU kernels run channels-first, end to end."""
    inp = keras.Input((3, 8, 8))
    cf = {"data_format": "channels_first"}
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw", **cf)(inp)
    x = layers.BatchNormalization(axis=1, name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.ZeroPadding2D(((0, 1), (1, 0)), name="pad", **cf)(x)
    x = layers.MaxPooling2D(2, name="mp", **cf)(x)
    x = layers.UpSampling2D(2, name="up", **cf)(x)
    y = layers.AveragePooling2D(3, padding="same", strides=2, name="ap", **cf)(x)
    a = layers.Flatten(name="flat_cf_order")(y)  # Keras flattens (C, H, W)
    b = layers.Flatten(name="flat_cl_order", **cf)(y)  # Keras moves C last first
    c = layers.GlobalAveragePooling2D(name="gap", **cf)(x)
    x = layers.Concatenate(name="cat")([a, b, c])
    out = layers.Dense(4, name="out")(x)
    model = randomize(keras.Model(inp, out, name="channels_first"))
    net = check(model, data(3, 8, 8))
    assert net.input.shape == (8, 8, 3)
    assert net.metadata["keras_data_format"] == "channels_first"


def test_channels_first_conv_against_channels_last_twin(tmp_path):
    """TF's CPU kernels cannot run a channels-first Conv2D, so compare with the same
    weights in a channels-last model that flattens in the same (C, H, W) order."""

    def build(fmt):
        inp = keras.Input((3, 7, 7) if fmt == "channels_first" else (7, 7, 3))
        x = layers.Conv2D(4, 3, strides=2, padding="same", data_format=fmt, name="conv")(inp)
        x = layers.BatchNormalization(axis=1 if fmt == "channels_first" else -1, name="bn")(x)
        x = layers.Concatenate(axis=1 if fmt == "channels_first" else -1, name="cat")([x, x])
        if fmt == "channels_last":
            x = layers.Permute((3, 1, 2), name="to_chw")(x)
        x = layers.Flatten(name="flat")(x)
        return keras.Model(inp, layers.Dense(3, name="out")(x), name=fmt)

    cf_model = randomize(build("channels_first"))
    twin = build("channels_last")
    twin.set_weights(cf_model.get_weights())
    cf_model.save(tmp_path / "cf.keras")
    net = KerasParser().parse(tmp_path / "cf.keras")
    x = data(7, 7, 3)
    want = np.asarray(twin(x, training=False))
    got = forward(net, x)[net.output.name]
    assert np.abs(got - want).max() <= 1e-5
    assert isinstance(net["conv"], Conv) and net["cat"].axis == -1
    assert isinstance(net["out"], Dense)


def test_keras2_h5(tmp_path):
    """An HDF5 file in the Keras 2 layout (config and weight naming) parses correctly."""
    from snn_keras2_h5 import write_keras2_h5

    path, weights = write_keras2_h5(tmp_path / "k2.h5")
    parser = KerasParser()
    model = parser.load(path)
    net = parser.parse(path)
    x = data(6, 6, 2)
    diffs = compare(net, model, x)
    assert max(diffs.values()) <= 1e-5, diffs
    assert set(diffs) == {"conv2d", "conv2d_1", "add", "flatten", "dense"}
    # the file's own numbers, not Keras' initial ones, reached the IR
    np.testing.assert_array_equal(net["dense"].weights, weights["dense"]["kernel"])
    np.testing.assert_array_equal(net["conv2d_1"].kernel, weights["conv2d_1"]["kernel"])
    assert net.metadata["parser"] == "keras"
