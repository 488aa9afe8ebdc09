"""Synaptic operations of binary spike maps, counted by one matrix-vector product, equal
the element-wise count (events times fan-out) for every layer."""

from __future__ import annotations

import numpy as np
import pytest
from snn_sim_ini.engine import Engine, EngineSettings
from snn_sim_ini.primitives import NeuronParams
from test_ini_maxpool_static import network

from snn_core.interfaces import CodeSpec


@pytest.mark.parametrize("encoding", ["analog", "poisson"])
def test_product_count_equals_elementwise_count(encoding) -> None:
    net = network(8)
    x = np.random.default_rng(4).uniform(0, 1, (5, 8, 8, 2)).astype(np.float32)
    spec = CodeSpec(
        input_encoding=encoding,
        neuron_model="if",
        readout="spike_count",
        params={"input_rate": 700.0, "num_poisson_events_per_sample": -1},
    )
    settings = EngineSettings(
        num_steps=30, dt=1.0, neuron=NeuronParams(v_thresh=0.7), maxpool_type="fir_max"
    )
    stats = []
    for product in (True, False):
        engine = Engine(net, spec, settings)
        assert {"c1", "p1", "c2", "p2"} <= set(engine.events_per_unit)
        if not product:
            engine.events_per_unit = {}
        _, ops, _ = engine.simulate(x, engine.init_carry(5), np.ones(5, bool), (1, 2))
        stats.append((ops, engine.last_stats["layer_ops"]))
    (ops_p, layers_p), (ops_e, layers_e) = stats
    assert ops_p[:, -1].min() > 0
    np.testing.assert_allclose(ops_p, ops_e, rtol=1e-6)
    for name, value in layers_e.items():
        np.testing.assert_allclose(layers_p[name], value, rtol=1e-6, err_msg=name)
