"""The plugin's hooks: registration through the installed entry point, and file guessing."""

from __future__ import annotations

import numpy as np
import pytest
from snn_parser_keras import KerasParser, hooks

from snn_core.network import Dense, InputLayer, Network
from snn_core.plugins import Registry

keras = pytest.importorskip("keras")


def test_registered_through_the_entry_point():
    registry = Registry(environ={"SNN_LOAD_PLUGINS": "keras"})
    assert registry.get("parser", "keras") is KerasParser
    assert registry.source("parser", "keras").distribution == "snn-parser-keras"


def test_guess_parser(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.h5")
    ours = Network.from_layers(
        [
            InputLayer(name="in", shape=(3,)),
            Dense(name="d", inputs=("in",), shape=(2,), weights=np.ones((3, 2)), bias=[0, 0]),
        ]
    )
    ours.save(tmp_path / "parsed.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")
    assert hooks.snn_guess_parser(model_path=tmp_path / "m.keras") == "keras"
    assert hooks.snn_guess_parser(model_path=tmp_path / "m.h5") == "keras"
    assert hooks.snn_guess_parser(model_path=tmp_path / "parsed.h5") is None
    assert hooks.snn_guess_parser(model_path=tmp_path / "junk.h5") is None
    assert hooks.snn_guess_parser(model_path=tmp_path / "model.onnx") is None
    registry = Registry(environ={"SNN_LOAD_PLUGINS": "keras"})
    assert registry.hook.snn_guess_parser(model_path=tmp_path / "m.h5") == "keras"


def test_hooks_module_imports_no_framework():
    import subprocess
    import sys

    code = (
        "import sys, snn_parser_keras.hooks as h; h.snn_register_parsers; "
        "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
