"""temporal_pattern on the INI simulator: exact bit patterns, the ANN's accuracy, op counts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from snn_code_temporal_pattern import TemporalPattern
from snn_code_temporal_pattern.code import TemporalPatternOptions
from snn_sim_ini.simulator import IniSimulator

from snn_core.ann import predict
from snn_core.config import Cell, Simulation
from snn_core.errors import ConfigError
from snn_core.network import Dense, InputLayer, Network
from snn_core.testing.contracts import CodeContract

INI_TESTS = Path(__file__).resolve().parents[3] / "simulators" / "snn-sim-ini" / "tests"


class TestTemporalPatternContract(CodeContract):
    plugin_class = TemporalPattern
    hooks_module = "snn_code_temporal_pattern.hooks"


def identity_chain(n: int) -> Network:
    eye = np.eye(n, dtype=np.float32)
    zero = np.zeros(n, np.float32)
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(n,)),
            Dense(name="h", inputs=("in",), shape=(n,), weights=eye, bias=zero, activation="relu"),
            Dense(name="out", inputs=("h",), shape=(n,), weights=eye, bias=zero),
        ]
    )


def run(network, x, bits, duration=None, **sim):
    simulator = IniSimulator()
    steps = duration or 2 * bits
    simulator.prepare(
        network,
        TemporalPattern(TemporalPatternOptions(num_bits=bits)),
        Cell(),
        Simulation(duration=steps, batch_size=len(x), **sim),
    )
    return simulator.run_batch(np.asarray(x, np.float32), np.arange(len(x)))


@pytest.mark.parametrize("bits", [3, 8, 16])
def test_reconstructs_the_quantized_activation_exactly(bits):
    x = np.random.default_rng(bits).uniform(0, 1.2, size=(6, 5)).astype(np.float32)
    out = run(identity_chain(5), x, bits)
    quantized = np.minimum(np.floor(x.astype(np.float64) * 2**bits), 2**bits - 1) / 2**bits
    # the hidden layer re-encodes the received (quantized) value bit by bit, without loss
    np.testing.assert_allclose(out.scores[:, -1], quantized, atol=1e-6)
    # and spikes once per set bit: synaptic ops of 'h' = set bits x fan-out (5)
    set_bits = np.array([[bin(int(v)).count("1") for v in row] for row in quantized * 2**bits])
    np.testing.assert_allclose(out.synaptic_ops_per_layer["h"], 5 * set_bits.sum(1))
    np.testing.assert_allclose(out.synaptic_ops_per_layer["in"], 5 * set_bits.sum(1))


def test_synaptic_and_neuron_ops_by_hand():
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(1,)),
            Dense(name="out", inputs=("in",), shape=(2,), weights=[[1.0, 0.5]], bias=[0.0, 0.0]),
        ]
    )
    out = run(net, [[0.625]], bits=3, duration=5)  # 0.101b: spikes at steps 1 and 3
    np.testing.assert_allclose(out.synaptic_ops, [2, 2, 4, 4, 4])
    np.testing.assert_allclose(out.scores[0, -1], [0.625, 0.3125])
    # the 2 output neurons update during their integration phase (3 steps) and firing phase
    np.testing.assert_allclose(out.neuron_ops[0], [2, 4, 6, 8, 10])


def test_too_short_a_duration_names_what_is_needed():
    with pytest.raises(ConfigError, match="at least 16 steps"):
        run(identity_chain(2), np.zeros((1, 2)), bits=8, duration=10)


def test_reaches_the_anns_accuracy_at_8_bits_with_batches():
    sys.path.insert(0, str(INI_TESTS))
    from ini_helpers import normalize
    from test_ini_trained import digits, to_ir, train

    x_train, _, x_test, y_test = digits()
    for kind in ("mlp", "cnn"):
        net = normalize(to_ir(kind, train(kind)), x_train[:500])
        ann = (predict(net, x_test).argmax(1) == y_test).mean()
        out = run(net, x_test, bits=8, duration=8 * 3, early_stopping=True)
        snn = (out.scores[:, -1].argmax(1) == y_test).mean()
        assert abs(snn - ann) <= 0.01, (kind, snn, ann)
        assert out.steps_used.max() <= 8 * 3
