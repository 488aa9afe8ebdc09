"""A max pool behind a constant input current: a fixed ranking, and pruned losers.

With analog input, the first layer's current is the same at every step, so a
``membrane_max`` pool behind it ranks its window the same way at every step; where the
pool is the layer's only consumer, the engine simulates only each window's winner. Both
must give exactly what the general path gives when the same input arrives as frames (a
time-varying input, for which the engine does neither).
"""

from __future__ import annotations

import numpy as np
import pytest
from snn_sim_ini.engine import Engine, EngineSettings
from snn_sim_ini.primitives import NeuronParams

from snn_core.interfaces import CodeSpec
from snn_core.network import Conv, Dense, InputLayer, Network, Pool, Reshape

STEPS = 40


def _conv(name: str, src: str, shape, cin: int, rng) -> Conv:
    cout = shape[-1]
    return Conv(
        name=name,
        inputs=(src,),
        shape=shape,
        kernel=rng.normal(0.1, 0.5, (3, 3, cin, cout)),
        bias=rng.normal(0.0, 0.1, cout),
        strides=(1, 1),
        padding=((1, 1), (1, 1)),
        dilation=(1, 1),
        activation="relu",
    )


def _pool(name: str, src: str, shape) -> Pool:
    return Pool(
        name=name,
        inputs=(src,),
        shape=shape,
        mode="max",
        pool_size=(2, 2),
        strides=(2, 2),
        padding=((0, 0), (0, 0)),
    )


def network(side: int, second_consumer: bool = False, seed: int = 0) -> Network:
    """conv - maxpool - conv - maxpool - dense on ``side x side x 2`` input; with
    ``second_consumer`` the first conv also feeds a dense layer (no pruning there)."""
    rng = np.random.default_rng(seed)
    half, quarter = side // 2, side // 4
    layers = [
        InputLayer(name="in", shape=(side, side, 2)),
        _conv("c1", "in", (side, side, 4), 2, rng),
        _pool("p1", "c1", (half, half, 4)),
        _conv("c2", "p1", (half, half, 3), 4, rng),
        _pool("p2", "c2", (quarter, quarter, 3)),
        Reshape(name="flat", inputs=("p2",), shape=(quarter * quarter * 3,)),
    ]
    tail = "flat"
    if second_consumer:
        layers += [
            Reshape(name="flat1", inputs=("c1",), shape=(side * side * 4,)),
            Dense(
                name="side",
                inputs=("flat1",),
                shape=(quarter * quarter * 3,),
                weights=rng.normal(0, 0.05, (side * side * 4, quarter * quarter * 3)),
                bias=np.zeros(quarter * quarter * 3),
                activation="relu",
            ),
        ]
        from snn_core.network import Add

        layers.append(Add(name="sum", inputs=("flat", "side"), shape=(quarter * quarter * 3,)))
        tail = "sum"
    layers.append(
        Dense(
            name="out",
            inputs=(tail,),
            shape=(5,),
            weights=rng.normal(0, 0.5, (quarter * quarter * 3, 5)),
            bias=np.zeros(5),
            activation="relu",
        )
    )
    return Network.from_layers(layers)


def simulate(net: Network, x: np.ndarray, encoding: str, **settings):
    spec = CodeSpec(input_encoding=encoding, neuron_model="if", readout="spike_count")
    engine = Engine(
        net,
        spec,
        EngineSettings(
            num_steps=STEPS,
            dt=1.0,
            neuron=NeuronParams(v_init=0.5),
            maxpool_type="membrane_max",
            **settings,
        ),
    )
    if encoding == "frames":  # the same image at every step: a time-varying input
        x = np.repeat(x[:, None], STEPS, axis=1)
    lanes = len(x)
    scores, ops, _ = engine.simulate(x, engine.init_carry(lanes), np.ones(lanes, bool), (0, 0))
    return engine, scores, ops


@pytest.mark.parametrize("side", [8, 9])  # 9: odd maps, the last row and column are cut
def test_pruned_layer_gives_the_general_paths_spikes(side) -> None:
    net = network(side)
    x = np.random.default_rng(1).uniform(0, 1, (6, side, side, 2)).astype(np.float32)
    static, scores_s, ops_s = simulate(net, x, "analog")
    general, scores_g, ops_g = simulate(net, x, "frames")
    assert set(static.pruned) == {"c1"}  # c2's current changes with its input spikes
    assert static.units["p1"].static_rank and not general.units["p1"].static_rank
    assert not general.pruned
    np.testing.assert_array_equal(scores_s, scores_g)
    # the pruned losers cost nothing: fewer synaptic and neuron operations, and the
    # layers after the pool cost exactly the same
    assert (ops_s[:, -1] < ops_g[:, -1]).all()
    for name in ("p1", "c2", "p2"):
        np.testing.assert_allclose(
            static.last_stats["layer_ops"][name], general.last_stats["layer_ops"][name]
        )
    assert (static.last_stats["neuron_ops"] < general.last_stats["neuron_ops"]).all()


def test_fixed_ranking_without_pruning_gives_the_general_paths_spikes() -> None:
    """A layer with a second consumer keeps all its neurons; its pool's ranking is still
    computed once."""
    net = network(8, second_consumer=True)
    x = np.random.default_rng(2).uniform(0, 1, (6, 8, 8, 2)).astype(np.float32)
    static, scores_s, ops_s = simulate(net, x, "analog")
    _, scores_g, ops_g = simulate(net, x, "frames")
    assert static.units["p1"].static_rank and not static.pruned
    np.testing.assert_array_equal(scores_s, scores_g)
    np.testing.assert_allclose(ops_s, ops_g)


def test_carried_state_keeps_the_general_path() -> None:
    """When samples carry state over (reset_between_nth_sample != 1) the ranking depends
    on the previous sample, so nothing is fixed or pruned."""
    net = network(8)
    x = np.random.default_rng(3).uniform(0, 1, (2, 8, 8, 2)).astype(np.float32)
    engine, _, _ = simulate(net, x, "analog", fresh_samples=False)
    assert not engine.units["p1"].static_rank and not engine.pruned
