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
