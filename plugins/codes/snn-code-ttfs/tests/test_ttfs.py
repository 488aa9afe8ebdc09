"""ttfs on the INI simulator: one spike per neuron, values in spike times, ANN accuracy."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from snn_code_ttfs import TTFS, TTFSCorrective, TTFSDynThresh
from snn_code_ttfs.code import TTFSCorrectiveOptions, TTFSDynThreshOptions, TTFSOptions
from snn_sim_ini.simulator import IniSimulator

from snn_core.ann import predict
from snn_core.config import Cell, Simulation
from snn_core.errors import UnsupportedLayerError
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


class TestTTFSDynThreshContract(CodeContract):
    plugin_class = TTFSDynThresh
    hooks_module = "snn_code_ttfs.hooks"


class TestTTFSCorrectiveContract(CodeContract):
    plugin_class = TTFSCorrective
    hooks_module = "snn_code_ttfs.hooks"


def run(network, x, duration, readout="first_spike", phase_steps=0, code=None, **sim):
    simulator = IniSimulator()
    simulator.prepare(
        network,
        code or TTFS(TTFSOptions(readout=readout, phase_steps=phase_steps)),
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


# -- ttfs_dyn_thresh -------------------------------------------------------------------------


def dyn(lag: int = 0) -> TTFSDynThresh:
    return TTFSDynThresh(TTFSDynThreshOptions(phase_steps=lag))


def test_dyn_thresh_fires_at_most_once_and_exactly_the_positive_values():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(6, 6)).astype(np.float32)
    x = rng.uniform(0, 1, size=(16, 6)).astype(np.float32)
    lag = 15
    window = 2 * lag
    out = run(chain(6, w), x, 4 * lag, code=dyn(lag))
    hidden = np.round(np.clip(x, 0, 1) * window) / window @ w
    fires = (np.round(np.clip(hidden, 0, None) * window) >= 1).sum(1)
    spikes = out.synaptic_ops_per_layer["h"] / 6
    assert np.all(spikes <= 6)
    np.testing.assert_array_equal(spikes, fires)


def test_dyn_thresh_layers_overlap_and_fire_at_their_value_without_inhibition():
    # lag 15, windows of 30 steps: 'h' starts at 15, 'out' at 30; without negative weights
    # nothing delays a spike, so the output fires at 30 + 30 - round(value * 30)
    x = np.array([[0.2, 0.9, 0.5], [0.7, 0.1, 0.3]], np.float32)
    out = run(chain(3, np.eye(3, dtype=np.float32)), x, 60, code=dyn(15), early_stopping=True)
    np.testing.assert_array_equal(out.scores[:, -1].argmax(1), [1, 0])
    np.testing.assert_array_equal(out.steps_used, [30 + 3 + 1, 30 + 9 + 1])


def test_dyn_thresh_waits_while_inhibition_may_still_come():
    # h = x0 - x1 with x1 = 0: the value is 0.9, but until the inputs' window closes x1
    # might still fire, so 'h' fires later (a smaller value), never earlier
    zero = np.zeros(1, np.float32)

    def net(w1: float) -> Network:
        return Network.from_layers(
            [
                InputLayer(name="in", shape=(2,)),
                Dense(name="h", inputs=("in",), shape=(1,), weights=[[1.0], [w1]], bias=zero),
                Dense(name="out", inputs=("h",), shape=(1,), weights=[[1.0]], bias=zero),
            ]
        )

    x = np.array([[0.9, 0.0]], np.float32)
    free = run(net(0.0), x, 60, code=dyn(15), early_stopping=True)
    held = run(net(-1.0), x, 60, code=dyn(15), early_stopping=True)
    assert free.steps_used[0] == 30 + 3 + 1
    assert held.steps_used[0] > free.steps_used[0]
    # at its step k, h's lower bound 0.9 - (14 - k) / 30 (x1 might still fire) first
    # reaches its threshold 1 - 1 / 60 - k / 30 at k = 9: it sends 21/30 instead of 27/30,
    # and the output (no inhibition) fires at that value
    assert held.steps_used[0] == 30 + 9 + 1


def test_dyn_thresh_within_one_point_of_the_ann_in_120_steps():
    sys.path.insert(0, str(INI_TESTS))
    from ini_helpers import normalize
    from test_ini_trained import digits, to_ir, train

    x_train, _, x_test, y_test = digits()
    for kind in ("mlp", "cnn"):
        net = normalize(to_ir(kind, train(kind)), x_train[:500])
        ann = (predict(net, x_test).argmax(1) == y_test).mean()
        out = run(net, x_test, 120, code=dyn(), early_stopping=True)
        snn = (out.scores[:, -1].argmax(1) == y_test).mean()
        assert snn >= ann - 0.01, (kind, snn, ann)
        # a sample stops at its first output spike, at the latest when the output's
        # window ends (120)
        assert out.steps_used.mean() < 110


def test_dyn_thresh_spec():
    spec = dyn(7).spec()
    assert spec.requires == {
        "input:ttfs_dyn_thresh",
        "neuron:ttfs_dyn_thresh",
        "readout:first_spike",
    }
    assert spec.params == {"phase_steps": 7}


# -- ttfs_corrective -------------------------------------------------------------------------


def corrective(lag: int = 0) -> TTFSCorrective:
    return TTFSCorrective(TTFSCorrectiveOptions(phase_steps=lag))


def two_inputs(w1: float) -> Network:
    zero = np.zeros(1, np.float32)
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(2,)),
            Dense(name="h", inputs=("in",), shape=(1,), weights=[[1.0], [w1]], bias=zero),
            Dense(name="out", inputs=("h",), shape=(1,), weights=[[1.0]], bias=zero),
        ]
    )


def test_corrective_converges_to_the_ann_values():
    # random mixing weights: hidden neurons guess from the inputs seen so far and correct
    # the guess when later inputs move their value; the output (identity) integrates the
    # hidden layer's guesses and corrections, which must add up to the quantized values
    rng = np.random.default_rng(4)
    w = rng.normal(size=(6, 6)).astype(np.float32)
    x = rng.uniform(0, 1, size=(32, 6)).astype(np.float32)
    lag = 20
    window = 2 * lag
    out = run(chain(6, w), x, 4 * lag, code=corrective(lag))
    hidden = np.clip(np.round(x * window) / window @ w, 0, 1)
    np.testing.assert_allclose(out.scores[:, -1], hidden, atol=0.5 / window + 1e-5)
    # the guesses were wrong somewhere: corrections happened
    first_guesses = (np.round(hidden * window) >= 1).sum(1)
    assert np.any(out.synaptic_ops_per_layer["h"] / 6 > first_guesses)


def test_corrective_spikes_only_when_the_first_guess_was_wrong():
    x = np.array([[0.9, 0.3]], np.float32)
    # x1 (0.3) fires at input step 28 of 40, after 'h' guessed 0.9 from x0 at its own
    # step 4 (input step 24): with w1 = 0 the guess is right and 'h' fires once; with
    # w1 = -1 its value drops to 0.6 and a negative spike corrects it
    right = run(two_inputs(0.0), x, 80, code=corrective(20))
    wrong = run(two_inputs(-1.0), x, 80, code=corrective(20))
    assert right.synaptic_ops_per_layer["h"][0] == 1
    assert wrong.synaptic_ops_per_layer["h"][0] >= 2
    np.testing.assert_allclose(right.scores[0, -1], [0.9], atol=1e-5)
    np.testing.assert_allclose(wrong.scores[0, -1], [0.6], atol=0.5 / 40 + 1e-5)


def test_corrective_matches_the_ann_on_the_trained_mlp_and_refuses_max_pooling():
    sys.path.insert(0, str(INI_TESTS))
    from ini_helpers import normalize
    from test_ini_trained import digits, to_ir, train

    x_train, _, x_test, y_test = digits()
    net = normalize(to_ir("mlp", train("mlp")), x_train[:500])
    ann = (predict(net, x_test).argmax(1) == y_test).mean()
    out = run(net, x_test, 120, code=corrective(), early_stopping=True)
    snn = (out.scores[:, -1].argmax(1) == y_test).mean()
    assert snn >= ann - 0.01, (snn, ann)
    # the output's value is complete when its inputs' window closes: (D + 1) lags
    np.testing.assert_array_equal(out.steps_used, 3 * (120 // 4))
    cnn = normalize(to_ir("cnn", train("cnn")), x_train[:500])
    with pytest.raises(UnsupportedLayerError, match="pool"):
        run(cnn, x_test[:2], 120, code=corrective())
