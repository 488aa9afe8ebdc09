"""Single-neuron dynamics, Poisson input, resets between samples and clamping."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from ini_helpers import if_reference, simulator, single_neuron, spike_steps
from snn_code_rate.code import RateOptions

from snn_core.config import Cell, Simulation
from snn_core.errors import ConfigError
from snn_core.network import Dense, InputLayer, Network


def run_neuron(current: float, steps: int = 20, **cell) -> list[int]:
    sim = simulator(single_neuron(), cell=Cell(**cell), simulation=Simulation(duration=steps))
    out = sim.run_batch(np.array([[current]], np.float32), np.array([0]))
    assert out.scores.shape == (1, steps, 1)
    np.testing.assert_array_equal(out.timesteps, np.arange(1, steps + 1))
    return spike_steps(out.scores[0, :, 0])


def test_subtract_reset_by_hand() -> None:
    # 0.375 per step: V = .375 .75 1.125* (.125) .5 .875 1.25* (.25) .625 1.0* (0) ...
    assert run_neuron(0.375, 12) == [3, 6, 8, 11]


def test_zero_reset_by_hand() -> None:
    assert run_neuron(0.375, 12, reset="zero") == [3, 6, 9, 12]
    # reset to 0.25: .375 .75 1.125* (.25) .625 1.0* (.25) .625 1.0* ...
    assert run_neuron(0.375, 9, reset="zero", v_reset=0.25) == [3, 5, 7, 9]


@pytest.mark.parametrize("reset", ["subtract", "zero", "modulo"])
@pytest.mark.parametrize("current", [0.3, 0.45, 0.7, 1.3])
def test_resets_match_reference_neuron(reset: str, current: float) -> None:
    expected = if_reference([np.float32(current)] * 40, reset=reset)
    assert run_neuron(current, 40, reset=reset) == expected


def test_refractory_period_by_hand() -> None:
    # tau_refrac = 2 ms at dt = 1 ms: input is ignored for two steps after each spike
    assert run_neuron(0.375, 12, tau_refrac=2.0) == [3, 8, 12]
    assert run_neuron(0.375, 30, tau_refrac=2.0) == if_reference([0.375] * 30, refrac=2)
    # a strong input spikes once every refrac + 1 steps
    assert run_neuron(5.0, 9, tau_refrac=2.0) == [1, 4, 7]


def test_leak_matches_reference() -> None:
    decay = math.exp(-1.0 / 10.0)
    got = run_neuron(0.2, 60, leak=True, tau_m=10.0)
    assert got == if_reference([np.float32(0.2)] * 60, decay=decay)
    assert len(got) < len(run_neuron(0.2, 60))  # leaking loses charge


def test_threshold_scales_rate_and_spike_amplitude() -> None:
    # two neurons in a chain with unit weights: the second receives spikes of amplitude
    # v_thresh, so it fires at the same rate as the first
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(1,)),
            Dense(name="a", inputs=("in",), shape=(1,), weights=[[1.0]], bias=[0.0]),
            Dense(name="b", inputs=("a",), shape=(1,), weights=[[1.0]], bias=[0.0]),
        ]
    )
    sim = simulator(net, cell=Cell(v_thresh=0.5), simulation=Simulation(duration=40))
    out = sim.run_batch(np.array([[0.25]], np.float32), np.array([0]))
    # the first fires every 2nd step (0.25 / 0.5), the second in the same steps
    assert out.scores[0, -1, 0] == 20


def test_poisson_input_mean_rate_and_seed() -> None:
    n, steps = 200, 500
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(n,)),
            # identity: each input spike (amplitude 1) makes its neuron fire in the same step
            Dense(name="copy", inputs=("in",), shape=(n,), weights=np.eye(n), bias=np.zeros(n)),
        ]
    )
    code = RateOptions(poisson_input=True, input_rate=200.0, readout="spike_count")

    def counts(seed: int) -> np.ndarray:
        sim = simulator(net, code=code, simulation=Simulation(duration=steps, seed=seed))
        x = np.full((1, n), 0.5, np.float32)
        return sim.run_batch(x, np.array([0])).scores[0, -1]

    c = counts(0)
    p = 0.5 * 200.0 * 1.0 / 1000.0  # 0.1 per step
    rate = c.sum() / (n * steps)
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / (n * steps))
    assert c.std() > 0  # really random
    np.testing.assert_array_equal(c, counts(0))
    assert not np.array_equal(c, counts(1))


def test_poisson_event_cap() -> None:
    n = 100
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(n,)),
            Dense(name="copy", inputs=("in",), shape=(n,), weights=np.eye(n), bias=np.zeros(n)),
        ]
    )
    code = RateOptions(poisson_input=True, num_poisson_events_per_sample=150, readout="spike_count")
    sim = simulator(net, code=code, simulation=Simulation(duration=50, batch_size=2))
    x = np.full((2, n), 0.5, np.float32)
    total = sim.run_batch(x, np.array([0, 1])).scores.sum(axis=2)  # (batch, steps)
    for lane in total:
        assert 150 <= lane[-1] < 150 + n
        reached = int(np.argmax(lane >= 150))
        assert np.all(lane[reached:] == lane[-1])  # silent after the cap
        assert reached <= 6


def test_analog_input_reset_between_samples() -> None:
    # sample 0 (x = 0.375) leaves V = 0.75 after 2 steps; sample 1 (x = 0.375) continues
    # from there unless the state is reset, and spikes at its first step
    def first_spikes(every: int) -> list[list[int]]:
        sim = simulator(
            single_neuron(),
            simulation=Simulation(duration=2, batch_size=1, reset_between_nth_sample=every),
        )
        x = np.array([[0.375]], np.float32)
        return [spike_steps(sim.run_batch(x, np.array([i])).scores[0, :, 0]) for i in range(3)]

    assert first_spikes(1) == [[], [], []]
    assert first_spikes(2) == [[], [1], []]  # sample 2 is reset (2 % 2 == 0)
    # never reset: V = .5 after sample 1, so sample 2 runs .875 1.25*
    assert first_spikes(0) == [[], [1], [2]]
    assert first_spikes(-1) == first_spikes(0)


@pytest.mark.parametrize(("reset", "expected"), [("subtract", 10), ("modulo", 0), ("zero", 0)])
def test_residual_charge_carries_over_per_lane(reset: str, expected: int) -> None:
    # a current of 2.5 per step spikes every step; reset by subtraction keeps 1.5 per step
    # of charge (V = 15 after 10 steps), which fires all 10 steps of a silent next sample
    sim = simulator(
        single_neuron(),
        cell=Cell(reset=reset),
        simulation=Simulation(duration=10, batch_size=2, reset_between_nth_sample=0),
    )
    first = sim.run_batch(np.array([[2.5], [0.0]], np.float32), np.array([0, 1]))
    assert first.scores[:, -1, 0].tolist() == [10, 0]
    second = sim.run_batch(np.zeros((2, 1), np.float32), np.array([2, 3]))
    assert second.scores[:, -1, 0].tolist() == [expected, 0]


def test_clamp_indices(tmp_path) -> None:
    path = tmp_path / "clamp.json"
    path.write_text(json.dumps({"1": 5}))
    sim = simulator(single_neuron(), simulation=Simulation(duration=12, clamp_indices=path))
    out = sim.run_batch(np.array([[0.375]], np.float32), np.array([0]))
    # held at rest for 5 steps, then as a fresh neuron: 5 + 3, 5 + 6
    assert spike_steps(out.scores[0, :, 0]) == [8, 11]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ('{"0": 3}', "not a layer with neurons"),
        ('{"7": 3}', "not a layer with neurons"),
        ('{"x": 3}', "not a layer index"),
        ('{"1": -2}', "non-negative"),
        ("[1, 2]", "expected an object"),
    ],
)
def test_bad_clamp_file(tmp_path, content: str | None, match: str) -> None:
    path = tmp_path / "clamp.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=match) as err:
        simulator(single_neuron(), simulation=Simulation(clamp_indices=path))
    assert "clamp.json" in str(err.value)
