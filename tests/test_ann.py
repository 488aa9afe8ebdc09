"""The numpy reference evaluator: hand-checked small cases, then TensorFlow on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from snn_core.ann import apply_activation, forward, layer_forward, predict
from snn_core.errors import UnsupportedLayerError
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


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def conv(kernel, shape, strides=None, padding=None, dilation=None, groups=1, bias=None):
    kernel = f32(kernel)
    rank = kernel.ndim - 2
    return Conv(
        name="conv",
        inputs=("in",),
        shape=shape,
        kernel=kernel,
        bias=np.zeros(kernel.shape[-1]) if bias is None else bias,
        strides=strides or (1,) * rank,
        padding=padding or ((0, 0),) * rank,
        dilation=dilation or (1,) * rank,
        groups=groups,
    )


# -- activations ----------------------------------------------------------------------


def test_activations_by_hand():
    z = f32([[-1.0, 0.0, math.log(2.0)]])
    assert apply_activation(z, "linear") is z
    np.testing.assert_array_equal(apply_activation(z, "relu"), f32([[0, 0, math.log(2.0)]]))
    soft = apply_activation(f32([[0.0, math.log(2.0)], [1000.0, 1000.0]]), "softmax")
    np.testing.assert_allclose(soft, [[1 / 3, 2 / 3], [0.5, 0.5]], rtol=1e-6)
    assert soft.dtype == np.float32
    with pytest.raises(UnsupportedLayerError, match="tanh"):
        apply_activation(z, "tanh")


# -- hand-computed layers -------------------------------------------------------------


def test_dense_by_hand():
    layer = Dense(
        name="d",
        inputs=("in",),
        shape=(2,),
        weights=[[1, 2], [3, 4]],
        bias=[10, 20],
        activation="relu",
    )
    out = layer_forward(layer, [f32([[1, 1], [-5, 0]])])
    np.testing.assert_array_equal(out, [[14, 26], [5, 10]])
    pre = layer_forward(layer, [f32([[-5, -5]])], pre_activation=True)
    np.testing.assert_array_equal(pre, [[-10, -10]])


def test_conv1d_by_hand():
    x = f32([1, 2, 3, 4]).reshape(1, 4, 1)
    k = f32([1, 2]).reshape(2, 1, 1)
    np.testing.assert_array_equal(layer_forward(conv(k, (3, 1)), [x]).ravel(), [5, 8, 11])
    strided = conv(k, (2, 1), strides=(2,))
    np.testing.assert_array_equal(layer_forward(strided, [x]).ravel(), [5, 11])
    dilated = conv(k, (2, 1), dilation=(2,))
    np.testing.assert_array_equal(layer_forward(dilated, [x]).ravel(), [7, 10])
    padded = conv(k, (5, 1), padding=((1, 1),), bias=[0.5])
    np.testing.assert_array_equal(layer_forward(padded, [x]).ravel(), [2.5, 5.5, 8.5, 11.5, 4.5])


def test_conv2d_by_hand():
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    out = layer_forward(conv(np.ones((2, 2, 1, 1)), (2, 2, 1)), [x])
    np.testing.assert_array_equal(out[0, :, :, 0], [[8, 12], [20, 24]])
    # two input channels summed, two output channels
    x2 = np.concatenate([x, 10 * x], axis=-1)
    k = np.zeros((1, 1, 2, 2))
    k[0, 0] = [[1, 0], [1, -1]]  # out0 = x + 10x, out1 = -10x
    out = layer_forward(conv(k, (3, 3, 2)), [x2])
    np.testing.assert_array_equal(out[0, :, :, 0], 11 * x[0, :, :, 0])
    np.testing.assert_array_equal(out[0, :, :, 1], -10 * x[0, :, :, 0])


def test_grouped_and_depthwise_conv_by_hand():
    x = f32([[[[1.0, 10.0]]]])  # (1, 1, 1, 2)
    grouped = conv(f32([2.0, 3.0]).reshape(1, 1, 1, 2), (1, 1, 2), groups=2)
    np.testing.assert_array_equal(layer_forward(grouped, [x]).ravel(), [2, 30])
    # depthwise with multiplier 2: channel c feeds outputs 2c and 2c+1
    depthwise = conv(f32([1, 2, 3, 4]).reshape(1, 1, 1, 4), (1, 1, 4), groups=2)
    np.testing.assert_array_equal(layer_forward(depthwise, [x]).ravel(), [1, 2, 30, 40])
    # groups of two input channels each
    x4 = f32([1, 2, 3, 4]).reshape(1, 1, 1, 4)
    k = np.zeros((1, 1, 2, 2))
    k[0, 0, :, 0] = [1, 1]  # group 0: x0 + x1
    k[0, 0, :, 1] = [1, -1]  # group 1: x2 - x3
    np.testing.assert_array_equal(
        layer_forward(conv(k, (1, 1, 2), groups=2), [x4]).ravel(), [3, -1]
    )


def conv_t(kernel, shape, strides, padding, output_padding=(0, 0), dilation=(1, 1)):
    kernel = f32(kernel)
    return ConvTranspose(
        name="ct",
        inputs=("in",),
        shape=shape,
        kernel=kernel,
        bias=np.zeros(kernel.shape[-1]),
        strides=strides,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
    )


def test_conv_transpose_by_hand():
    x = f32([1, 2]).reshape(1, 2, 1, 1)
    k = f32([1, 10]).reshape(2, 1, 1, 1)
    full = conv_t(k, (4, 1, 1), (2, 1), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(layer_forward(full, [x]).ravel(), [1, 10, 2, 20])
    cropped = conv_t(k, (3, 1, 1), (2, 1), ((1, 0), (0, 0)))
    np.testing.assert_array_equal(layer_forward(cropped, [x]).ravel(), [10, 2, 20])
    extended = conv_t(k, (5, 1, 1), (2, 1), ((0, 0), (0, 0)), output_padding=(1, 0))
    np.testing.assert_array_equal(layer_forward(extended, [x]).ravel(), [1, 10, 2, 20, 0])
    overlapping = conv_t(k, (3, 1, 1), (1, 1), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(layer_forward(overlapping, [x]).ravel(), [1, 12, 20])
    dilated = conv_t(k, (5, 1, 1), (2, 1), ((0, 0), (0, 0)), dilation=(2, 1))
    np.testing.assert_array_equal(layer_forward(dilated, [x]).ravel(), [1, 0, 12, 0, 20])


def pool(mode, shape, size, strides, padding, count_include_pad=False):
    return Pool(
        name="p",
        inputs=("in",),
        shape=shape,
        mode=mode,
        pool_size=size,
        strides=strides,
        padding=padding,
        count_include_pad=count_include_pad,
    )


def test_pooling_by_hand():
    x = f32([1, 3, 2]).reshape(1, 3, 1)
    pad = ((0, 1),)
    np.testing.assert_array_equal(
        layer_forward(pool("max", (2, 1), (2,), (2,), pad), [x]).ravel(), [3, 2]
    )
    np.testing.assert_array_equal(
        layer_forward(pool("avg", (2, 1), (2,), (2,), pad), [x]).ravel(), [2, 2]
    )
    np.testing.assert_array_equal(
        layer_forward(pool("avg", (2, 1), (2,), (2,), pad, True), [x]).ravel(), [2, 1]
    )
    neg = f32([-1, -3, -2]).reshape(1, 3, 1)  # padding must never win a max
    np.testing.assert_array_equal(
        layer_forward(pool("max", (2, 1), (2,), (2,), pad), [neg]).ravel(), [-1, -2]
    )
    x2 = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    out = layer_forward(pool("max", (2, 2, 1), (2, 2), (2, 2), ((0, 0), (0, 0))), [x2])
    np.testing.assert_array_equal(out[0, :, :, 0], [[5, 7], [13, 15]])
    out = layer_forward(pool("avg", (2, 2, 1), (2, 2), (2, 2), ((0, 0), (0, 0))), [x2])
    np.testing.assert_array_equal(out[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_shape_layers_by_hand():
    x = np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2)
    gap = GlobalAveragePool(name="g", inputs=("in",), shape=(2,))
    np.testing.assert_array_equal(layer_forward(gap, [x]), [[3, 4]])
    flat = Reshape(name="r", inputs=("in",), shape=(8,))
    np.testing.assert_array_equal(layer_forward(flat, [x]), [np.arange(8)])
    up = UpSample(name="u", inputs=("in",), shape=(4, 1), size=(2,))
    np.testing.assert_array_equal(layer_forward(up, [f32([[[1], [2]]])]).ravel(), [1, 1, 2, 2])
    pad = ZeroPad(name="z", inputs=("in",), shape=(4, 1), padding=((1, 2),))
    np.testing.assert_array_equal(layer_forward(pad, [f32([[[5]]])]).ravel(), [0, 5, 0, 0])
    a, b = f32([[[1, 2]]]), f32([[[3, 4]]])  # (1, 1, 2)
    cat = Concatenate(name="c", inputs=("a", "b"), shape=(1, 4), axis=-1)
    np.testing.assert_array_equal(layer_forward(cat, [a, b]), [[[1, 2, 3, 4]]])
    cat0 = Concatenate(name="c", inputs=("a", "b"), shape=(2, 2), axis=0)
    np.testing.assert_array_equal(layer_forward(cat0, [a, b]), [[[1, 2], [3, 4]]])
    add = Add(name="s", inputs=("a", "b", "a"), shape=(1, 2), activation="relu")
    np.testing.assert_array_equal(layer_forward(add, [a, -b, a]), [[[0, 0]]])
    np.testing.assert_array_equal(layer_forward(add, [a, b, a]), [[[5, 8]]])


def test_declared_shape_is_checked():
    wrong = Dense(name="d", inputs=("in",), shape=(3,), weights=np.eye(2), bias=np.zeros(2))
    with pytest.raises(ValueError, match=r"'d' \(Dense\) computed shape \(2,\)"):
        layer_forward(wrong, [np.zeros((1, 2), np.float32)])


# -- whole networks -------------------------------------------------------------------


def branchy_network() -> Network:
    rng = np.random.default_rng(0)
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(5,)),
            Dense(
                name="a",
                inputs=("in",),
                shape=(4,),
                weights=rng.normal(size=(5, 4)),
                bias=rng.normal(size=4),
                activation="relu",
            ),
            Dense(
                name="b",
                inputs=("in",),
                shape=(4,),
                weights=rng.normal(size=(5, 4)),
                bias=rng.normal(size=4),
            ),
            Add(name="sum", inputs=("a", "b"), shape=(4,), activation="relu"),
            Concatenate(name="cat", inputs=("sum", "a"), shape=(8,)),
            Dense(
                name="out",
                inputs=("cat",),
                shape=(3,),
                weights=rng.normal(size=(8, 3)),
                bias=np.zeros(3),
                activation="softmax",
            ),
        ]
    )


def test_forward_matches_manual_chain():
    net = branchy_network()
    x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    a = np.maximum(x @ net["a"].weights + net["a"].bias, 0)
    b = x @ net["b"].weights + net["b"].bias
    s = np.maximum(a + b, 0)
    z = np.concatenate([s, a], axis=1) @ net["out"].weights
    e = np.exp(z - z.max(1, keepdims=True))
    out = forward(net, x)
    assert list(out) == ["out"]
    np.testing.assert_allclose(out["out"], e / e.sum(1, keepdims=True), rtol=1e-5)
    both = forward(net, x, ["sum", "a"])
    assert list(both) == ["sum", "a"]
    np.testing.assert_allclose(both["sum"], s, rtol=1e-5)
    pre = forward(net, x, ["sum", "out"], pre_activation=True)
    np.testing.assert_allclose(pre["sum"], a + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pre["out"], z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(predict(net, x, batch_size=4), out["out"], rtol=1e-6)
    assert predict(net, x[:0]).shape == (0, 3)


def test_forward_rejects_bad_input_and_names():
    net = branchy_network()
    with pytest.raises(ValueError, match=r"\(5,\)"):
        forward(net, np.zeros((2, 4), np.float32))
    with pytest.raises(KeyError, match="nope"):
        forward(net, np.zeros((2, 5), np.float32), ["nope"])


# -- against TensorFlow on random data ------------------------------------------------


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def same_pads(n, k, s, d=1):
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return (total // 2, total - total // 2)


@pytest.mark.parametrize(
    ("size", "kernel", "strides", "dilation", "padding"),
    [
        ((9, 8), (3, 3), (1, 1), (1, 1), "VALID"),
        ((9, 8), (3, 2), (2, 2), (1, 1), "SAME"),
        ((10, 11), (3, 3), (1, 1), (2, 3), "SAME"),
        ((7, 7), (5, 3), (3, 2), (1, 1), ((2, 1), (0, 3))),
    ],
)
def test_conv2d_matches_tensorflow(tf, size, kernel, strides, dilation, padding):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, *size, 4)).astype(np.float32)
    k = rng.normal(size=(*kernel, 4, 5)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    if padding == "SAME":
        pads = tuple(
            same_pads(n, kk, s, d)
            for n, kk, s, d in zip(size, kernel, strides, dilation, strict=True)
        )
    elif padding == "VALID":
        pads = ((0, 0), (0, 0))
    else:
        pads = padding
    tf_pad = padding if isinstance(padding, str) else [[0, 0], *map(list, pads), [0, 0]]
    want = tf.nn.conv2d(x, k, strides=strides, padding=tf_pad, dilations=dilation).numpy() + b
    layer = conv(k, want.shape[1:], strides, pads, dilation, bias=b)
    np.testing.assert_allclose(layer_forward(layer, [x]), want, atol=1e-5)


def test_conv1d_matches_tensorflow(tf):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 20, 3)).astype(np.float32)
    k = rng.normal(size=(4, 3, 6)).astype(np.float32)
    want = tf.nn.conv1d(x, k, stride=2, padding="SAME", dilations=1).numpy()
    layer = conv(k, want.shape[1:], (2,), (same_pads(20, 4, 2),))
    np.testing.assert_allclose(layer_forward(layer, [x]), want, atol=1e-5)


def test_depthwise_and_grouped_match_tensorflow(tf):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    k = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)  # TF: (kh, kw, cin, multiplier)
    want = tf.nn.depthwise_conv2d(x, k, strides=[1, 1, 1, 1], padding="SAME").numpy()
    layer = conv(k.reshape(3, 3, 1, 6), want.shape[1:], padding=((1, 1), (1, 1)), groups=3)
    np.testing.assert_allclose(layer_forward(layer, [x]), want, atol=1e-5)
    # grouped: 2 groups of 2 input channels -> 3 outputs each, as two separate convs
    x4 = rng.normal(size=(2, 6, 6, 4)).astype(np.float32)
    kg = rng.normal(size=(3, 3, 2, 6)).astype(np.float32)
    parts = [
        tf.nn.conv2d(x4[..., 2 * g : 2 * g + 2], kg[..., 3 * g : 3 * g + 3], 1, "VALID")
        for g in range(2)
    ]
    want = np.concatenate([p.numpy() for p in parts], axis=-1)
    layer = conv(kg, want.shape[1:], groups=2)
    np.testing.assert_allclose(layer_forward(layer, [x4]), want, atol=1e-5)


@pytest.mark.parametrize(("strides", "kernel"), [((2, 2), (3, 3)), ((1, 2), (2, 3))])
def test_conv_transpose_matches_tensorflow(tf, strides, kernel):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
    k = rng.normal(size=(*kernel, 3, 2)).astype(np.float32)  # ours: (kh, kw, in, out)
    full = [(n - 1) * s + kk for n, s, kk in zip((4, 5), strides, kernel, strict=True)]
    tf_k = k.transpose(0, 1, 3, 2)  # TF: (kh, kw, out, in)
    want = tf.nn.conv2d_transpose(x, tf_k, [2, *full, 2], strides, "VALID").numpy()
    layer = conv_t(k, want.shape[1:], strides, ((0, 0), (0, 0)))
    np.testing.assert_allclose(layer_forward(layer, [x]), want, atol=1e-5)
    crop = conv_t(k, (full[0] - 2, full[1] - 1, 2), strides, ((1, 1), (0, 1)))
    np.testing.assert_allclose(layer_forward(crop, [x]), want[:, 1:-1, :-1], atol=1e-5)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_matches_tensorflow(tf, mode):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 7, 9, 3)).astype(np.float32)
    tf_pool = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    want = tf_pool(x, ksize=(3, 2), strides=(2, 2), padding="SAME").numpy()
    pads = (same_pads(7, 3, 2), same_pads(9, 2, 2))
    layer = pool(mode, want.shape[1:], (3, 2), (2, 2), pads)
    np.testing.assert_allclose(layer_forward(layer, [x]), want, atol=1e-6)


def test_small_cnn_streams_fast():
    """A LeNet-sized CNN on 2,000 MNIST-shaped images (the speed normalizers rely on)."""
    import time

    rng = np.random.default_rng(7)
    layers = [
        InputLayer(name="in", shape=(28, 28, 1)),
        Conv(
            name="c1",
            inputs=("in",),
            shape=(26, 26, 16),
            kernel=rng.normal(size=(3, 3, 1, 16)),
            bias=np.zeros(16),
            strides=(1, 1),
            padding=((0, 0), (0, 0)),
            dilation=(1, 1),
            activation="relu",
        ),
        Pool(
            name="p1",
            inputs=("c1",),
            shape=(13, 13, 16),
            mode="max",
            pool_size=(2, 2),
            strides=(2, 2),
            padding=((0, 0), (0, 0)),
        ),
        Conv(
            name="c2",
            inputs=("p1",),
            shape=(11, 11, 32),
            kernel=rng.normal(size=(3, 3, 16, 32)),
            bias=np.zeros(32),
            strides=(1, 1),
            padding=((0, 0), (0, 0)),
            dilation=(1, 1),
            activation="relu",
        ),
        Reshape(name="flat", inputs=("c2",), shape=(11 * 11 * 32,)),
        Dense(
            name="out",
            inputs=("flat",),
            shape=(10,),
            weights=rng.normal(size=(11 * 11 * 32, 10)),
            bias=np.zeros(10),
        ),
    ]
    net = Network.from_layers(layers)
    x = rng.random((2000, 28, 28, 1), dtype=np.float32)
    start = time.perf_counter()
    out = predict(net, x)
    elapsed = time.perf_counter() - start
    assert out.shape == (2000, 10) and out.dtype == np.float32
    # generous bound (2 slow cores); 60,000 images take about 30x this
    assert elapsed < 30, f"2,000 images took {elapsed:.1f} s"
