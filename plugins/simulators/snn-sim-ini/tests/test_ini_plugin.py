"""The plugin surface: registration, options, capabilities, batching, reporting, benchmark."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import attrs
import numpy as np
import pytest
from ini_helpers import simulator, single_neuron, spike_steps
from snn_code_rate import TemporalMeanRate
from snn_sim_ini.simulator import IniOptions, IniSimulator

from snn_core.config import Cell, Simulation, structure
from snn_core.errors import CapabilityError, ConfigError, UnsupportedLayerError
from snn_core.interfaces import CodeSpec, SpikeCode
from snn_core.network import Dense, InputLayer, Network, Reshape, layer_kinds


def test_hooks_module_does_not_import_tensorflow() -> None:
    code = "import sys, snn_sim_ini.hooks, snn_sim_ini.simulator;print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registered_through_entry_point() -> None:
    from snn_core.plugins import Registry

    registry = Registry(environ={"SNN_LOAD_PLUGINS": "ini"})
    assert registry.get("simulator", "ini") is IniSimulator


def test_declares_every_layer_kind_and_the_rate_code() -> None:
    assert IniSimulator.layer_kinds == frozenset(layer_kinds())
    assert TemporalMeanRate().spec().requires <= IniSimulator.capabilities
    for cell in (Cell(reset="modulo"), Cell(tau_refrac=1.0), Cell(leak=True)):
        assert cell.requirements() <= IniSimulator.capabilities


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"maxpool_type": "max"}, "maxpool_type"),
        ({"record_every": 0}, "record_every"),
        ({"device": "tpu"}, "device"),
        ({"maxpool_window": -1.0}, "maxpool_window"),
        ({"recordevery": 2}, "recordevery"),
    ],
)
def test_bad_options_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        structure(IniOptions, table, where="exp.toml: [simulator]")


class _FutureCode(SpikeCode):
    """A code needing primitives the simulator does not have."""

    name: ClassVar[str] = "future"

    @attrs.frozen
    class Options:
        pass

    def spec(self) -> CodeSpec:
        return CodeSpec(input_encoding="spiral", neuron_model="if", readout="last_spike")


def test_missing_primitives_are_named() -> None:
    sim = IniSimulator()
    with pytest.raises(CapabilityError, match="input:spiral.*readout:last_spike"):
        sim.prepare(single_neuron(), _FutureCode(), Cell(), Simulation())


def test_softmax_on_a_pass_through_layer_is_refused() -> None:
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(2,)),
            Dense(name="d", inputs=("in",), shape=(2,), weights=np.eye(2), bias=np.zeros(2)),
            Reshape(name="r", inputs=("d",), shape=(2,), activation="softmax"),
        ]
    )
    with pytest.raises(UnsupportedLayerError, match="'r'"):
        simulator(net)


def test_gpu_device_without_gpu() -> None:
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible")
    with pytest.raises(CapabilityError, match="GPU"):
        simulator(single_neuron(), device="gpu")


def test_record_every_and_timesteps_in_ms() -> None:
    x = np.array([[0.375]], np.float32)
    full = simulator(single_neuron(), simulation=Simulation(duration=10, dt=0.5))
    sparse = simulator(single_neuron(), simulation=Simulation(duration=10, dt=0.5), record_every=6)
    a = full.run_batch(x, np.array([0]))
    b = sparse.run_batch(x, np.array([0]))
    np.testing.assert_array_equal(b.timesteps, [3.0, 6.0, 9.0, 10.0])
    np.testing.assert_array_equal(b.scores[0, :, 0], a.scores[0, [5, 11, 17, 19], 0])


def test_short_batch_is_padded_and_lanes_are_independent() -> None:
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(3,)),
            Dense(
                name="d",
                inputs=("in",),
                shape=(2,),
                weights=[[0.5, 0.1], [0.2, 0.3], [0.1, 0.6]],
                bias=[0.0, 0.05],
            ),
        ]
    )
    x = np.random.default_rng(0).uniform(0, 1, (3, 3)).astype(np.float32)
    sim = simulator(net, simulation=Simulation(duration=50, batch_size=5))
    together = sim.run_batch(x, np.arange(3))
    assert together.scores.shape == (3, 50, 2)
    for i in range(3):
        alone = sim.run_batch(x[i : i + 1], np.array([i]))
        np.testing.assert_array_equal(alone.scores[0], together.scores[i])
    assert sim.run_batch(x[:0], np.arange(0)).scores.shape == (0, 50, 2)


def test_synaptic_operations_by_hand() -> None:
    net = Network.from_layers(
        [
            InputLayer(name="in", shape=(1,)),
            Dense(name="n", inputs=("in",), shape=(1,), weights=[[1.0]], bias=[0.0]),
            Dense(name="o", inputs=("n",), shape=(3,), weights=[[1.0, 1.0, 1.0]], bias=np.zeros(3)),
        ]
    )
    sim = simulator(net, simulation=Simulation(duration=12))
    out = sim.run_batch(np.array([[0.375]], np.float32), np.array([0]))
    # one analog input value reaches 1 neuron every step; "n" spikes at steps 3 6 8 11
    # and each spike reaches 3 neurons
    n_spikes = np.cumsum(np.isin(np.arange(1, 13), [3, 6, 8, 11]))
    np.testing.assert_allclose(out.synaptic_ops, np.arange(1, 13) + 3 * n_spikes)
    assert spike_steps(out.scores[0, :, 0]) == [3, 6, 8, 11]
    off = simulator(net, simulation=Simulation(duration=12), count_synaptic_ops=False)
    assert off.run_batch(np.array([[0.375]], np.float32), np.array([0])).synaptic_ops is None


def test_run_before_prepare_and_after_close() -> None:
    sim = IniSimulator()
    with pytest.raises(RuntimeError, match="prepare"):
        sim.run_batch(np.zeros((1, 1), np.float32), np.array([0]))
    sim = simulator(single_neuron())
    sim.close()
    with pytest.raises(RuntimeError, match="prepare"):
        sim.run_batch(np.zeros((1, 1), np.float32), np.array([0]))


def test_step_vs_forward_reports_both_timings() -> None:
    from snn_sim_ini.bench import reference_network, step_vs_forward

    x = np.random.default_rng(0).uniform(0, 1, (4, 28, 28, 1)).astype(np.float32)
    result = step_vs_forward(reference_network(), x, steps=5, repeats=1)
    assert set(result) == {"snn_step_s", "ann_forward_s", "ratio", "groups"}
    assert result["groups"] == 1  # 4 lanes are too few to split
    assert result["snn_step_s"] > 0 and result["ann_forward_s"] > 0
    assert result["ratio"] == pytest.approx(result["snn_step_s"] / result["ann_forward_s"])
