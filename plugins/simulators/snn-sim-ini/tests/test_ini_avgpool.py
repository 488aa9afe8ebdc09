"""Average pools behind rate-coded IF neurons average the spikes themselves (no neurons).

Checked against a numpy simulation of the same network written out by hand: IF neurons
(reset by subtraction) on the convolution's constant current, the 2 x 2 mean of their
spikes, and IF output neurons driven by the dense layer of those means.
"""

from __future__ import annotations

import numpy as np
import pytest
from snn_sim_ini.engine import Engine, EngineSettings, PassUnit
from snn_sim_ini.primitives import NeuronParams

from snn_core.ann import forward
from snn_core.interfaces import CodeSpec
from snn_core.network import Conv, Dense, InputLayer, Network, Pool, Reshape

STEPS = 30


def network(rng: np.random.Generator, side: int = 6) -> Network:
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(side, side, 1)),
            Conv(
                name="conv",
                inputs=("in",),
                shape=(side, side, 3),
                kernel=rng.uniform(0, 0.4, (3, 3, 1, 3)),
                bias=np.zeros(3),
                strides=(1, 1),
                padding=((1, 1), (1, 1)),
                dilation=(1, 1),
                activation="relu",
            ),
            Pool(
                name="pool",
                inputs=("conv",),
                shape=(3, 3, 3),
                mode="avg",
                pool_size=(2, 2),
                strides=(2, 2),
                padding=((0, 0), (0, 0)),
            ),
            Reshape(name="flat", inputs=("pool",), shape=(27,)),
            Dense(
                name="out",
                inputs=("flat",),
                shape=(4,),
                weights=rng.uniform(0, 0.2, (27, 4)),
                bias=np.zeros(4),
                activation="relu",
            ),
        ]
    )


def if_neurons(currents: list[np.ndarray], v0: float) -> list[np.ndarray]:
    """Spikes of IF neurons (threshold 1, reset by subtraction) for a current per step."""
    v = np.full(currents[0].shape, v0, np.float64)
    out = []
    for current in currents:
        v = v + current
        s = (v >= 1.0).astype(np.float64)
        v = v - s
        out.append(s)
    return out


@pytest.mark.parametrize("side", [6, 7])  # 7: the last row and column are in no window
def test_pool_averages_spikes_exactly(side) -> None:
    rng = np.random.default_rng(5)
    net = network(rng, side)
    x = rng.uniform(0, 1, (4, side, side, 1)).astype(np.float32)
    spec = CodeSpec(input_encoding="analog", neuron_model="if", readout="spike_count")
    engine = Engine(
        net, spec, EngineSettings(num_steps=STEPS, dt=1.0, neuron=NeuronParams(v_init=0.5))
    )
    assert isinstance(engine.units["pool"], PassUnit)
    scores, _, _ = engine.simulate(x, engine.init_carry(4), np.ones(4, bool), (0, 0))

    current = forward(net, x, outputs=["conv"])["conv"]  # relu(conv(x)) = the current
    conv_spikes = if_neurons([current] * STEPS, 0.5)
    covered = [s[:, :6, :6] for s in conv_spikes]
    pooled = [s.reshape(4, 3, 2, 3, 2, 3).mean(axis=(2, 4)) for s in covered]
    w = net["out"].weights
    out_spikes = if_neurons([p.reshape(4, -1) @ w for p in pooled], 0.5)
    np.testing.assert_allclose(scores[:, -1, :], np.sum(out_spikes, axis=0), atol=1e-6)
    # every covered conv spike enters one window (one op), the others none; a non-zero
    # mean reaches 4 outputs
    want = sum(
        s.sum(axis=(1, 2, 3)) + 4 * (p != 0).sum(axis=(1, 2, 3))
        for s, p in zip(covered, pooled, strict=True)
    )
    np.testing.assert_allclose(
        engine.last_stats["layer_ops"]["conv"] + engine.last_stats["layer_ops"]["pool"], want
    )
    # the pool has no neurons: only the conv's and the output's update each step
    neurons = side * side * 3 + 4
    np.testing.assert_allclose(engine.last_stats["neuron_ops"][:, -1], STEPS * neurons)


def test_phased_codes_keep_pool_neurons() -> None:
    """Time-to-first-spike values cannot be averaged as spikes: the pool keeps neurons."""
    net = network(np.random.default_rng(6))
    spec = CodeSpec(input_encoding="ttfs", neuron_model="ttfs", readout="first_spike")
    engine = Engine(net, spec, EngineSettings(num_steps=60, dt=1.0, neuron=NeuronParams()))
    assert not isinstance(engine.units["pool"], PassUnit)


@pytest.mark.parametrize(("option", "passes"), [("spikes", True), ("neurons", False)])
def test_average_pool_option(option, passes) -> None:
    """``[simulator] average_pool = "neurons"`` keeps the SNN Toolbox's pool neurons."""
    from snn_code_rate import TemporalMeanRate
    from snn_sim_ini.simulator import IniSimulator

    from snn_core.config import Cell, Simulation

    net = network(np.random.default_rng(7))
    sim = IniSimulator(IniSimulator.Options(average_pool=option))
    sim.prepare(net, TemporalMeanRate(), Cell(), Simulation(duration=20, batch_size=2))
    assert isinstance(sim._engine.units["pool"], PassUnit) == passes
    x = np.random.default_rng(8).uniform(0, 1, (2, 6, 6, 1)).astype(np.float32)
    out = sim.run_batch(x, np.arange(2))
    assert out.scores.shape[0] == 2 and np.isfinite(out.scores).all()
