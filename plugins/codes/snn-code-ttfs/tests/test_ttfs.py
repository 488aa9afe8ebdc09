"""ttfs on the INI simulator: one spike per neuron, values in spike times, ANN accuracy."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from snn_code_ttfs import TTFS
from snn_code_ttfs.code import TTFSOptions
from snn_sim_ini.simulator import IniSimulator

from snn_core.ann import predict
from snn_core.config import Cell, Simulation
from snn_core.network import Dense, InputLayer, Network
from snn_core.testing.contracts import CodeContract

INI_TESTS = Path(__file__).resolve().parents[3] / "simulators" / "snn-sim-ini" / "tests"


class TestTTFSContract(CodeContract):
    plugin_class = TTFS
    hooks_module = "snn_code_ttfs.hooks"


def chain(n: int, hidden: np.ndarray) -> Network:
    zero = np.zeros(n, np.float32)
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(n,)),
            Dense(name="h", inputs=("in",), shape=(n,), weights=hidden, bias=zero),
            Dense(
                name="out",
                inputs=("h",),
                shape=(n,),
                weights=np.eye(n, dtype=np.float32),
                bias=zero,
            ),
        ]
    )


def run(network, x, duration, readout="first_spike", phase_steps=0, **sim):
    simulator = IniSimulator()
    simulator.prepare(
        network,
        TTFS(TTFSOptions(readout=readout, phase_steps=phase_steps)),
        Cell(),
        Simulation(duration=duration, batch_size=len(x), **sim),
    )
    return simulator.run_batch(np.asarray(x, np.float32), np.arange(len(x)))


def test_values_travel_as_spike_times_quantized_to_one_over_p():
    p = 20
    x = np.random.default_rng(1).uniform(0, 1.3, size=(8, 4)).astype(np.float32)
    out = run(chain(4, np.eye(4, dtype=np.float32)), x, 2 * p, readout="potential", phase_steps=p)
    expected = np.round(np.round(np.clip(x, 0, 1) * p) / p * p) / p
    np.testing.assert_allclose(out.scores[:, -1], expected, atol=1e-5)


def test_each_neuron_fires_at_most_once():
    # hidden values (mixing weights) from -1 to 2: negatives never fire, big ones at once
    rng = np.random.default_rng(2)
    w = rng.normal(size=(6, 6)).astype(np.float32)
    x = rng.uniform(0, 1, size=(16, 6)).astype(np.float32)
    p = 25
    out = run(chain(6, w), x, 3 * p, phase_steps=p)
    hidden = np.round(np.clip(x, 0, 1) * p) / p @ w
    fires = (np.round(np.clip(hidden, 0, None) * p) >= 1).sum(1)
    # a spike of 'h' costs its fan-out (6): at most one spike per neuron, exactly those
    # whose value rounds to at least 1/P
    spikes = out.synaptic_ops_per_layer["h"] / 6
    assert np.all(spikes <= 6)
    np.testing.assert_array_equal(spikes, fires)
    inputs = out.synaptic_ops_per_layer["in"] / 6
    np.testing.assert_array_equal(inputs, (np.round(x * p) >= 1).sum(1))


def test_earliest_output_decides_and_early_stopping_stops_there():
    x = np.array([[0.2, 0.9, 0.5], [0.7, 0.1, 0.3]], np.float32)
    net = chain(3, np.eye(3, dtype=np.float32))
    full = run(net, x, 90)
    early = run(net, x, 90, early_stopping=True)
    assert list(full.scores[:, -1].argmax(1)) == [1, 0]
    np.testing.assert_array_equal(early.scores[:, -1].argmax(1), [1, 0])
    # phases of 30 steps: the output integrates in phase 1 and fires in phase 2, at local
    # step 30 - round(0.9 * 30) = 3 (sample 0) and 30 - 21 = 9 (sample 1)
    np.testing.assert_array_equal(early.steps_used, [60 + 3 + 1, 60 + 9 + 1])
    assert np.all(full.steps_used == early.steps_used)
    assert early.synaptic_ops[-1] <= full.synaptic_ops[-1]


def test_within_one_point_of_the_ann_at_200_steps():
    sys.path.insert(0, str(INI_TESTS))
    from ini_helpers import normalize
    from test_ini_trained import digits, to_ir, train

    x_train, _, x_test, y_test = digits()
    for kind in ("mlp", "cnn"):
        net = normalize(to_ir(kind, train(kind)), x_train[:500])
        ann = (predict(net, x_test).argmax(1) == y_test).mean()
        out = run(net, x_test, 200, early_stopping=True)
        snn = (out.scores[:, -1].argmax(1) == y_test).mean()
        assert snn >= ann - 0.01, (kind, snn, ann)
        assert out.steps_used.mean() < 200


@pytest.mark.parametrize("readout", ["first_spike", "potential"])
def test_spec(readout):
    spec = TTFS(TTFSOptions(readout=readout)).spec()
    assert spec.requires == {"input:ttfs", "neuron:ttfs", f"readout:{readout}"}
