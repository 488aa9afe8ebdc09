"""Trained networks (TensorFlow on sklearn's digits): SNN accuracy approaches the ANN's."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from ini_helpers import normalize, simulator

from snn_core.ann import forward
from snn_core.config import Simulation
from snn_core.network import Conv, Dense, InputLayer, Network, Pool, Reshape

CACHE = Path(__file__).resolve().parents[4] / ".cache" / "snn-sim-ini"
EPOCHS = 40


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    y = data.target.astype(np.int64)
    return x[:1400], y[:1400], x[1400:], y[1400:]


def train(kind: str) -> dict[str, np.ndarray]:
    """Train (or load from the cache) a small MLP or CNN; returns its weights by name."""
    recipe = f"{kind}-digits-1400-adam1e-2-batch64-epochs{EPOCHS}-seed0-v1"
    path = CACHE / f"{hashlib.sha256(recipe.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        return dict(np.load(path))
    import tensorflow as tf

    x, y, _, _ = digits()
    tf.random.set_seed(0)
    init = tf.keras.initializers.GlorotUniform(seed=0)
    if kind == "mlp":
        shapes = {"w1": (64, 48), "b1": (48,), "w2": (48, 10), "b2": (10,)}
    else:
        shapes = {
            "k1": (3, 3, 1, 8),
            "b1": (8,),
            "k2": (3, 3, 8, 16),
            "b2": (16,),
            "w3": (256, 10),
            "b3": (10,),
        }
    params = {k: tf.Variable(init(s) if len(s) > 1 else tf.zeros(s)) for k, s in shapes.items()}

    def logits(xb: tf.Tensor) -> tf.Tensor:
        if kind == "mlp":
            h = tf.nn.relu(tf.reshape(xb, [-1, 64]) @ params["w1"] + params["b1"])
            return h @ params["w2"] + params["b2"]
        h = tf.nn.relu(tf.nn.conv2d(xb, params["k1"], 1, "SAME") + params["b1"])
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        h = tf.nn.relu(tf.nn.conv2d(h, params["k2"], 1, "SAME") + params["b2"])
        return tf.reshape(h, [-1, 256]) @ params["w3"] + params["b3"]

    opt = tf.keras.optimizers.Adam(1e-2)

    @tf.function
    def step(xb: tf.Tensor, yb: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits(xb)))
        grads = tape.gradient(loss, list(params.values()))
        opt.apply_gradients(zip(grads, list(params.values()), strict=True))

    rng = np.random.default_rng(0)
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for i in range(0, len(x), 64):
            step(tf.constant(x[order[i : i + 64]]), tf.constant(y[order[i : i + 64]]))
    weights = {k: v.numpy() for k, v in params.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **weights)
    return weights


def to_ir(kind: str, w: dict[str, np.ndarray]) -> Network:
    """The trained network as IR, with the softmax already replaced by ReLU."""
    if kind == "mlp":
        return Network.from_layers(
            [
                InputLayer(name="in", shape=(8, 8, 1)),
                Reshape(name="flat", inputs=("in",), shape=(64,)),
                Dense(
                    name="h",
                    inputs=("flat",),
                    shape=(48,),
                    weights=w["w1"],
                    bias=w["b1"],
                    activation="relu",
                ),
                Dense(
                    name="out",
                    inputs=("h",),
                    shape=(10,),
                    weights=w["w2"],
                    bias=w["b2"],
                    activation="relu",
                ),
            ]
        )
    same = {"strides": (1, 1), "padding": ((1, 1), (1, 1)), "dilation": (1, 1)}
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(8, 8, 1)),
            Conv(
                name="c1",
                inputs=("in",),
                shape=(8, 8, 8),
                kernel=w["k1"],
                bias=w["b1"],
                activation="relu",
                **same,
            ),
            Pool(
                name="pool",
                inputs=("c1",),
                shape=(4, 4, 8),
                mode="max",
                pool_size=(2, 2),
                strides=(2, 2),
                padding=((0, 0), (0, 0)),
            ),
            Conv(
                name="c2",
                inputs=("pool",),
                shape=(4, 4, 16),
                kernel=w["k2"],
                bias=w["b2"],
                activation="relu",
                **same,
            ),
            Reshape(name="flat", inputs=("c2",), shape=(256,)),
            Dense(
                name="out",
                inputs=("flat",),
                shape=(10,),
                weights=w["w3"],
                bias=w["b3"],
                activation="relu",
            ),
        ]
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_snn_accuracy_approaches_ann(kind: str) -> None:
    x_train, _, x_test, y_test = digits()
    network = normalize(to_ir(kind, train(kind)), x_train[:500], percentile=99.9)
    ann_acc = (forward(network, x_test)["out"].argmax(1) == y_test).mean()
    assert ann_acc > 0.9  # the training worked
    steps = 150
    sim = simulator(network, simulation=Simulation(duration=steps, batch_size=len(x_test)))
    out = sim.run_batch(x_test, np.arange(len(x_test)))
    acc_t = (out.scores.argmax(2) == y_test[:, None]).mean(0)
    assert acc_t[-1] >= ann_acc - 0.03, (acc_t[-1], ann_acc)
    assert acc_t[4] < acc_t[-1]  # accuracy builds up over time
    # synaptic operations grow every step
    assert np.all(np.diff(out.synaptic_ops) > 0)


@pytest.mark.slow
def test_defaults_are_accurate_at_few_steps() -> None:
    """Half-threshold initial membranes, the membrane readout and membrane-ranked max
    pooling (snn's defaults) beat
    the SNN Toolbox's conventions (start at rest, count output spikes, fir_max) at short
    durations, on the same trained CNN."""
    from snn_code_rate import TemporalMeanRate
    from snn_code_rate.code import RateOptions
    from snn_sim_ini.simulator import IniOptions, IniSimulator

    from snn_core.config import Cell

    x_train, _, x_test, y_test = digits()
    network = normalize(to_ir("cnn", train("cnn")), x_train[:500], percentile=99.9)
    ann_acc = (forward(network, x_test)["out"].argmax(1) == y_test).mean()
    sim_cfg = Simulation(duration=20, batch_size=len(x_test))
    accs = {}
    for label, cell, code, sim_options in [
        (
            "toolbox",
            Cell(v_init=0.0),
            RateOptions(readout="spike_count"),
            IniOptions(maxpool_type="fir_max"),
        ),
        ("snn", Cell(), RateOptions(), IniOptions()),
    ]:
        sim = IniSimulator(sim_options)
        sim.prepare(network, TemporalMeanRate(code), cell, sim_cfg)
        out = sim.run_batch(x_test, np.arange(len(x_test)))
        accs[label] = (out.scores.argmax(2) == y_test[:, None]).mean(0)
    # mean accuracy over the first 10 steps: how fast the answer becomes usable
    assert accs["snn"][:10].mean() > accs["toolbox"][:10].mean() + 0.1, accs
    assert accs["snn"][-1] >= ann_acc - 0.02, (accs["snn"][-1], ann_acc)
