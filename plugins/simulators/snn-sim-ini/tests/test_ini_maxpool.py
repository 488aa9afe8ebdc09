"""The fast spiking max pool (pooling ops) equals the general one (patch extraction)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from snn_sim_ini.engine import EngineSettings, MaxPoolUnit
from snn_sim_ini.primitives import NeuronParams

from snn_core.network import InputLayer, Network, Pool


@pytest.mark.parametrize("shape", [(6, 6, 3), (7, 5, 2)])
def test_fast_path_matches_general_path(shape) -> None:
    h, w, c = shape
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=shape),
            Pool(
                name="pool",
                inputs=("in",),
                shape=(h // 2, w // 2, c),
                mode="max",
                pool_size=(2, 2),
                strides=(2, 2),
                padding=((0, 0), (0, 0)),
            ),
        ]
    )
    settings = EngineSettings(num_steps=40, dt=1.0, neuron=NeuronParams(v_thresh=0.5))
    fast = MaxPoolUnit(net["pool"], net, settings)
    slow = MaxPoolUnit(net["pool"], net, settings)
    slow.fast = False
    assert fast.fast
    rng = np.random.default_rng(0)
    rates = rng.uniform(0, 0.6, (4, *shape))  # many ties in the counts early on
    state_f = fast.init_state(tf.constant(4))
    state_s = slow.init_state(tf.constant(4))
    for t in range(40):
        spikes = tf.constant(0.5 * (rng.uniform(size=rates.shape) < rates), tf.float32)
        out_f, state_f = fast.step([spikes], None, state_f, tf.constant(t))
        out_s, state_s = slow.step([spikes], None, state_s, tf.constant(t))
        np.testing.assert_array_equal(out_f.numpy(), out_s.numpy())


def test_membrane_max_ranks_by_input_current() -> None:
    """Two inputs of one window: the one with more input current wins from the start,
    although both spike equally often at first."""
    from snn_code_rate import TemporalMeanRate
    from snn_sim_ini.simulator import IniOptions, IniSimulator

    from snn_core.config import Cell, Simulation
    from snn_core.network import Conv, Dense, Reshape

    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(1, 2, 1)),
            Conv(
                name="c",
                inputs=("in",),
                shape=(1, 2, 1),
                kernel=np.ones((1, 1, 1, 1)),
                bias=np.zeros(1),
                strides=(1, 1),
                padding=((0, 0), (0, 0)),
                dilation=(1, 1),
                activation="relu",
            ),
            Pool(
                name="pool",
                inputs=("c",),
                shape=(1, 1, 1),
                mode="max",
                pool_size=(1, 2),
                strides=(1, 2),
                padding=((0, 0), (0, 0)),
            ),
            Reshape(name="flat", inputs=("pool",), shape=(1,)),
            Dense(name="out", inputs=("flat",), shape=(1,), weights=[[1.0]], bias=[0.0]),
        ]
    )
    x = np.array([[[[0.30], [0.34]]]], np.float32)  # spike counts tie for the first steps
    sims = {}
    for kind in ("membrane_max", "fir_max"):
        sim = IniSimulator(IniOptions(maxpool_type=kind))
        sim.prepare(net, TemporalMeanRate(), Cell(v_init=0.0), Simulation(duration=30))
        sims[kind] = sim.run_batch(x, np.arange(1)).scores[0, :, 0]
    # the output integrates the pooled spikes: those of the 0.34 input only
    assert abs(sims["membrane_max"][-1] / 30 - 0.34) <= 1 / 30
    # fir_max switches between the tied inputs early on and passes spikes of both
    assert sims["fir_max"][-1] > sims["membrane_max"][-1]
