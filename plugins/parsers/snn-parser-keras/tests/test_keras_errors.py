"""What the Keras parser refuses, and how it says so."""

from __future__ import annotations

import numpy as np
import pytest
from snn_parser_keras import SUPPORTED_LAYERS, KerasParser
from snn_parser_keras.convert import convert_model

from snn_core.errors import ConfigError, UnsupportedLayerError

keras = pytest.importorskip("keras")
layers = keras.layers


def model_of(*hidden, shape=(8, 8, 3), name="m"):
    inp = keras.Input(shape)
    x = inp
    for layer in hidden:
        x = layer(x)
    return keras.Model(inp, x, name=name)


@pytest.mark.parametrize(
    ("build", "layer_name", "needle"),
    [
        (lambda: model_of(layers.LSTM(4, name="lstm"), shape=(5, 3)), "lstm", "LSTM"),
        (lambda: model_of(layers.Lambda(lambda t: t * 2, name="lam")), "lam", "Lambda"),
        (lambda: model_of(layers.LeakyReLU(name="leaky")), "leaky", "LeakyReLU"),
        (
            lambda: model_of(layers.Dense(4, activation="tanh", name="d")),
            "d",
            "activation 'tanh'",
        ),
        (lambda: model_of(layers.Conv2D(2, 3), layers.ReLU(6.0, name="r6")), "r6", "max_value"),
        (
            lambda: model_of(
                layers.BatchNormalization(name="bn"), layers.Conv2D(2, 3, padding="same", name="c")
            ),
            "c",
            "padded convolution",
        ),
        (
            lambda: model_of(layers.UpSampling2D(interpolation="bilinear", name="up")),
            "up",
            "interpolation='bilinear'",
        ),
        (lambda: model_of(layers.BatchNormalization(name="bn_out")), "bn_out", "model output"),
        (lambda: model_of(layers.ReLU(name="r0")), "r0", "without an activation"),
    ],
)
def test_unsupported_layers_are_named(build, layer_name, needle):
    with pytest.raises(UnsupportedLayerError) as info:
        convert_model(build())
    message = str(info.value)
    assert repr(layer_name) in message and needle in message
    if "class is not supported" in message:
        assert ", ".join(SUPPORTED_LAYERS) in message


def test_activation_whose_input_is_also_used_elsewhere():
    inp = keras.Input((4,))
    z = layers.Dense(3, name="z")(inp)
    a = layers.ReLU(name="relu")(z)
    out = layers.Add(name="add")([z, a])
    with pytest.raises(UnsupportedLayerError, match="'z' is also used without the relu"):
        convert_model(keras.Model(inp, out))


def test_raw_ops_nested_models_and_several_inputs():
    inp = keras.Input((4,))
    x = layers.Dense(4)(inp)
    with pytest.raises(UnsupportedLayerError, match="raw op"):
        convert_model(keras.Model(inp, x + inp))
    inner = model_of(layers.Dense(2), shape=(4,), name="inner")
    with pytest.raises(UnsupportedLayerError, match="nested models"):
        convert_model(keras.Model(inp, inner(inp)))
    other = keras.Input((4,))
    with pytest.raises(UnsupportedLayerError, match="2 inputs"):
        convert_model(keras.Model([inp, other], layers.Add()([inp, other])))


def test_lambda_file_refused_at_load(tmp_path):
    path = tmp_path / "lam.keras"
    model_of(layers.Lambda(lambda t: t * 2, name="lam")).save(path)
    with pytest.raises(ConfigError, match=r"lam\.keras.*could not load"):
        KerasParser().parse(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.keras"):
        KerasParser().parse(tmp_path / "nope.keras")


def test_custom_objects(tmp_path):
    source = tmp_path / "my_layers.py"
    source.write_text(
        "import keras\n\n\n"
        "class Doubler(keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        return 2 * x\n"
    )
    from snn_parser_keras.parser import load_custom_objects

    found = load_custom_objects(source)
    assert set(found) == {"Doubler"}  # the imported module 'keras' is left out
    path = tmp_path / "custom.keras"
    model_of(layers.Dense(3, name="d"), found["Doubler"](name="dbl"), shape=(4,)).save(path)
    with pytest.raises(ConfigError, match="custom_objects"):
        KerasParser().load(path)  # Keras cannot find the class without the file
    parser = KerasParser(KerasParser.Options(custom_objects=str(source)))
    assert isinstance(parser.options.custom_objects, type(source))
    model = parser.load(path)
    np.testing.assert_allclose(
        np.asarray(model(np.ones((1, 4), np.float32))),
        2 * np.asarray(model.get_layer("d")(np.ones((1, 4), np.float32))),
        rtol=1e-6,
    )
    with pytest.raises(UnsupportedLayerError, match=r"'dbl' \(Doubler\)"):
        parser.parse(path)
    missing = KerasParser(KerasParser.Options(custom_objects=tmp_path / "gone.py"))
    with pytest.raises(ConfigError, match="gone.py"):
        missing.parse(path)
