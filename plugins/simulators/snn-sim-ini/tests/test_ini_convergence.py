"""Spike rates converge to the normalised ANN activations (Rueckauer et al. 2017)."""

from __future__ import annotations

import numpy as np
import pytest
from ini_helpers import normalize, simulator
from snn_code_rate.code import RateOptions

from snn_core.ann import forward
from snn_core.config import Cell, Simulation
from snn_core.network import Conv, Dense, InputLayer, Network, Pool, Reshape


def dense_net(rng: np.random.Generator, out_act: str = "relu") -> Network:
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(20,)),
            Dense(
                name="h",
                inputs=("in",),
                shape=(30,),
                weights=rng.normal(0, 0.3, (20, 30)),
                bias=rng.normal(0, 0.1, 30),
                activation="relu",
            ),
            Dense(
                name="o",
                inputs=("h",),
                shape=(10,),
                weights=rng.normal(0, 0.3, (30, 10)),
                bias=rng.normal(0, 0.1, 10),
                activation=out_act,
            ),
        ]
    )


def conv_net(rng: np.random.Generator, pool: str = "avg") -> Network:
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(8, 8, 1)),
            Conv(
                name="c",
                inputs=("in",),
                shape=(8, 8, 4),
                kernel=rng.normal(0, 0.4, (3, 3, 1, 4)),
                bias=rng.normal(0, 0.05, 4),
                strides=(1, 1),
                padding=((1, 1), (1, 1)),
                dilation=(1, 1),
                activation="relu",
            ),
            Pool(
                name="p",
                inputs=("c",),
                shape=(4, 4, 4),
                mode=pool,
                pool_size=(2, 2),
                strides=(2, 2),
                padding=((0, 0), (0, 0)),
            ),
            Conv(
                name="c2",
                inputs=("p",),
                shape=(2, 2, 8),
                kernel=rng.normal(0, 0.3, (3, 3, 4, 8)),
                bias=rng.normal(0, 0.05, 8),
                strides=(2, 2),
                padding=((1, 1), (1, 1)),
                dilation=(1, 1),
                activation="relu",
            ),
            Reshape(name="f", inputs=("c2",), shape=(32,)),
            Dense(
                name="o",
                inputs=("f",),
                shape=(10,),
                weights=rng.normal(0, 0.3, (32, 10)),
                bias=rng.normal(0, 0.05, 10),
                activation="relu",
            ),
        ]
    )


def rates(network: Network, x: np.ndarray, steps: int, **options) -> np.ndarray:
    code = options.pop("code", None)
    sim = simulator(
        network,
        simulation=Simulation(duration=steps, batch_size=len(x)),
        code=code,
        record_every=steps,
        **options,
    )
    out = sim.run_batch(x, np.arange(len(x)))
    assert out.scores.shape == (len(x), 1, network.output.num_neurons)
    return out.scores[:, -1] / steps


@pytest.mark.parametrize("make", [dense_net, conv_net])
@pytest.mark.parametrize("steps", [200, 500])
def test_rates_approximate_activations(make, steps: int) -> None:
    rng = np.random.default_rng(0)
    network = make(rng)
    x = rng.uniform(0, 1, (50, *network.input.shape)).astype(np.float32)
    network = normalize(network, x, percentile=100)
    ann = forward(network, x)["o"]
    assert 0.9 < ann.max() <= 1.0 + 1e-6
    snn = rates(network, x, steps)
    err = np.abs(snn - ann)
    assert err.max() < 6.0 / steps + 0.005
    assert err.mean() < 1.5 / steps
    assert (snn.argmax(1) == ann.argmax(1)).mean() >= 0.95


def test_error_shrinks_with_time() -> None:
    rng = np.random.default_rng(1)
    network = normalize(conv_net(rng), x := rng.uniform(0, 1, (30, 8, 8, 1)).astype("f4"), 100)
    ann = forward(network, x)["o"]
    errors = [np.abs(rates(network, x, t) - ann).mean() for t in (20, 80, 320)]
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize(
    ("maxpool_type", "agree"), [("fir_max", 0.9), ("exp_max", 0.7), ("avg_max", 0.7)]
)
def test_spiking_max_pool(maxpool_type: str, agree: float) -> None:
    rng = np.random.default_rng(0)
    network = conv_net(rng, pool="max")
    x = rng.uniform(0, 1, (50, 8, 8, 1)).astype(np.float32)
    network = normalize(network, x, percentile=100)
    ann = forward(network, x)["o"]
    snn = rates(network, x, 300, maxpool_type=maxpool_type)
    assert (snn.argmax(1) == ann.argmax(1)).mean() >= agree
    assert np.abs(snn - ann).mean() < 0.05


def test_fir_max_passes_the_most_active_input() -> None:
    # two inputs in one window: 0.8 and 0.3 per step; the pool passes ~0.8 per step
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(1, 2, 1)),
            Conv(
                name="c",
                inputs=("in",),
                shape=(1, 2, 1),
                kernel=np.ones((1, 1, 1, 1)),
                bias=[0.0],
                strides=(1, 1),
                padding=((0, 0), (0, 0)),
                dilation=(1, 1),
            ),
            Pool(
                name="p",
                inputs=("c",),
                shape=(1, 1, 1),
                mode="max",
                pool_size=(1, 2),
                strides=(1, 2),
                padding=((0, 0), (0, 0)),
            ),
            Reshape(name="f", inputs=("p",), shape=(1,)),
            Dense(name="o", inputs=("f",), shape=(1,), weights=[[1.0]], bias=[0.0]),
        ]
    )
    for x in ([0.8, 0.3], [0.3, 0.8]):
        r = rates(net, np.array(x, np.float32).reshape(1, 1, 2, 1), 500)
        assert abs(r[0, 0] - 0.8) < 0.01


def test_spiking_softmax_rates_approximate_softmax() -> None:
    rng = np.random.default_rng(2)
    network = dense_net(rng, out_act="softmax")
    x = rng.uniform(0, 1, (40, 20)).astype(np.float32)
    network = normalize(network, x, percentile=100)
    # give the softmax some contrast (normalisation divided its logits)
    out = network["o"]
    network = network.replace(out.evolve(weights=out.weights * 8, bias=out.bias * 8))
    ann = forward(network, x)["o"]
    snn = rates(network, x, 400)
    np.testing.assert_allclose(snn.sum(1), 1.0, atol=0.01)  # one spike per step in total
    assert np.abs(snn - ann).max() < 0.05
    assert (snn.argmax(1) == ann.argmax(1)).mean() >= 0.9


def test_poisson_input_converges_too() -> None:
    rng = np.random.default_rng(3)
    network = dense_net(rng)
    x = rng.uniform(0, 1, (50, 20)).astype(np.float32)
    network = normalize(network, x, percentile=100)
    ann = forward(network, x)["o"]
    snn = rates(network, x, 500, code=RateOptions(poisson_input=True, readout="spike_count"))
    assert np.abs(snn - ann).mean() < 0.03
    assert (snn.argmax(1) == ann.argmax(1)).mean() >= 0.8


def test_threshold_sweep_changes_rates() -> None:
    rng = np.random.default_rng(4)
    network = normalize(dense_net(rng), x := rng.uniform(0, 1, (20, 20)).astype("f4"), 100)
    low = simulator(
        network, cell=Cell(v_thresh=0.5), simulation=Simulation(duration=100, batch_size=20)
    )
    high = simulator(
        network, cell=Cell(v_thresh=2.0), simulation=Simulation(duration=100, batch_size=20)
    )
    n_low = low.run_batch(x, np.arange(20)).scores[:, -1].sum()
    n_high = high.run_batch(x, np.arange(20)).scores[:, -1].sum()
    assert n_low > 2 * n_high
