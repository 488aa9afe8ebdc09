"""Fixtures of the Keras parser's tests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")
# the helper modules next to this file (uniquely named, whatever the import mode)
sys.path.insert(0, str(Path(__file__).parent))

import keras
from snn_keras_testutil import TOLERANCE, compare
from snn_parser_keras import KerasParser

from snn_core.ann import forward
from snn_core.network import Network


@pytest.fixture
def check(tmp_path: Path) -> Callable[..., Network]:
    """Save a model as .keras and .h5, parse both and compare with Keras layer by layer.

    Also checks the parser's predictor and the parsed network's save/load round trip.
    Returns the network parsed from the ``.keras`` file.
    """

    def run(model, x: np.ndarray, formats=("keras", "h5"), min_layers: int = 1) -> Network:
        parser = KerasParser()
        first = None
        for fmt in formats:
            path = tmp_path / f"{model.name}.{fmt}"
            model.save(path)
            net = parser.parse(path)
            assert net.metadata["source"] == str(path)
            assert net.metadata["parser"] == "keras"
            assert net.metadata["framework_version"] == keras.__version__
            loaded = parser.load(path)
            diffs = compare(net, loaded, x)
            assert len(diffs) >= min_layers, diffs
            bad = {k: v for k, v in diffs.items() if not v <= TOLERANCE}
            assert not bad, f"{fmt}: IR differs from Keras in {bad}\n{net.summary()}"
            channels_first = net.metadata.get("keras_data_format") == "channels_first"
            x_ir = np.moveaxis(x, 1, -1) if channels_first and x.ndim > 2 else x
            out = forward(net, x_ir)[net.output.name]
            predicted = parser.predictor(path)(x_ir)
            np.testing.assert_allclose(out, predicted, atol=TOLERANCE)
            again = Network.load(net.save(tmp_path / f"{model.name}_{fmt}_parsed.h5"))
            np.testing.assert_array_equal(forward(again, x_ir)[again.output.name], out)
            first = first or net
        return first

    return run
