"""The INI simulator's ``frames`` input: frame ``i`` at step ``i``, zero afterwards."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("snn_sim_ini")

from snn_code_rate import TemporalMeanRate
from snn_code_rate.code import RateOptions
from snn_sim_ini.simulator import IniOptions, IniSimulator

from snn_core.config import Cell, Simulation
from snn_core.network import Dense, InputLayer, Network
from snn_core.pipeline import FrameFedCode


def _sim(
    readout: str, duration: int, batch_size: int = 1, early_stopping: bool = False
) -> IniSimulator:
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(2,)),
            Dense(name="n", inputs=("in",), shape=(2,), weights=np.eye(2), bias=[0.0, 0.0]),
        ]
    )
    sim = IniSimulator(IniOptions())
    assert "input:frames" in sim.capabilities
    sim.prepare(
        net,
        FrameFedCode(TemporalMeanRate(RateOptions(readout=readout))),
        Cell(v_init=0.0),
        Simulation(duration=duration, batch_size=batch_size, early_stopping=early_stopping),
    )
    return sim


FRAMES = np.array(
    [
        [[1.0, 0.0], [0.0, 0.5], [1.0, 0.5], [0.0, 0.0], [1.0, 0.25]],
        [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]],
    ],
    np.float32,
)


def test_membrane_is_the_cumulative_input_of_the_frames():
    out = _sim("membrane", duration=8, batch_size=3).run_batch(FRAMES, np.arange(2))
    expected = np.cumsum(np.concatenate([FRAMES, np.zeros((2, 3, 2), np.float32)], 1), 1)
    np.testing.assert_allclose(out.scores, expected, rtol=1e-6)  # zero after the last frame


def test_spikes_follow_the_frames():
    out = _sim("spike_count", duration=7).run_batch(FRAMES[:1], np.arange(1))
    counts = out.scores[0, :, 0]  # neuron 0 gets 1 at steps 1, 3, 5 (1-based)
    np.testing.assert_array_equal(counts, [1, 1, 2, 2, 3, 3, 3])
    np.testing.assert_array_equal(out.scores[0, :, 1], [0, 0, 1, 1, 1, 1, 1])


def test_early_stopping_ends_the_batch_when_the_frames_run_out():
    full = _sim("membrane", duration=8, batch_size=2).run_batch(FRAMES, np.arange(2))
    early = _sim("membrane", duration=8, batch_size=2, early_stopping=True).run_batch(
        FRAMES, np.arange(2)
    )
    np.testing.assert_array_equal(early.steps_used, [5, 5])  # 5 frames, then stop
    # the stopped batch did 5 steps of neuron updates, the full one 8
    np.testing.assert_allclose(early.neuron_ops[:, -1] / full.neuron_ops[:, -1], 5 / 8)
    # without early stopping the batch runs on: the readout keeps integrating zero input
    np.testing.assert_allclose(full.scores[:, -1], full.scores[:, 4], rtol=1e-6)
    # the readout when the input ran out is the final answer
    np.testing.assert_allclose(early.scores[:, -1], full.scores[:, 4], rtol=1e-6)
