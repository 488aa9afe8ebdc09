"""Bias relaxation: each layer's bias grows to its full value by half the duration."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from snn_code_rate import TemporalMeanRate
from snn_code_rate.code import RateOptions
from snn_sim_ini.engine import relaxed_bias_factor
from snn_sim_ini.simulator import IniOptions, IniSimulator

from snn_core.config import Cell, Simulation
from snn_core.network import Dense, InputLayer, Network


def test_factor_by_hand() -> None:
    # layer 25 of a 100-step run: 1 - (1 - 2 t/100) / 2 at t = 1, 50, 100
    got = [float(relaxed_bias_factor(tf.constant(t - 1), 100, 25)) for t in (1, 50, 100)]
    np.testing.assert_allclose(got, [0.51, 1.0, 1.0], rtol=1e-6)
    assert float(relaxed_bias_factor(tf.constant(0), 100, 0)) == 1.0  # the input: no change
    assert float(relaxed_bias_factor(tf.constant(0), 100, 60)) == 0.0  # deep: starts at 0


def test_membrane_integrates_the_relaxed_bias() -> None:
    """Input 0 and bias 0.5 on the second layer (index 1): the output's accumulated input
    is the bias times the sum of the factors."""
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(1,)),
            Dense(name="out", inputs=("in",), shape=(1,), weights=[[1.0]], bias=[0.5]),
        ]
    )
    steps = 40
    scores = {}
    for relax in (False, True):
        sim = IniSimulator(IniOptions(bias_relaxation=relax))
        sim.prepare(
            net,
            TemporalMeanRate(RateOptions(readout="membrane")),
            Cell(),
            Simulation(duration=steps),
        )
        scores[relax] = sim.run_batch(np.zeros((1, 1), np.float32), np.arange(1)).scores[0, :, 0]
    factors = np.clip(1 - (1 - 2 * np.arange(1, steps + 1) / steps) * 1 / 50, 0, 1)
    np.testing.assert_allclose(scores[True], 0.5 * np.cumsum(factors), rtol=1e-5)
    np.testing.assert_allclose(scores[False], 0.5 * np.arange(1, steps + 1), rtol=1e-5)
