"""The core's parser contract, run on the Keras parser."""

from __future__ import annotations

from pathlib import Path

from snn_parser_keras import KerasParser

from snn_core.testing.contracts import ParserContract


class TestKerasParserContract(ParserContract):
    plugin_class = KerasParser
    hooks_module = "snn_parser_keras.hooks"

    def make_model(self, tmp_path: Path) -> Path:
        import keras

        inp = keras.Input((6, 6, 1))
        x = keras.layers.Conv2D(2, 3, activation="relu")(inp)
        x = keras.layers.Flatten()(x)
        out = keras.layers.Dense(3, activation="softmax")(x)
        path = tmp_path / "tiny.keras"
        keras.Model(inp, out).save(path)
        return path
