"""Lane groups: a batch split into independent groups gives exactly what it gives whole.

On CPU the simulator runs the lanes of a batch in groups, one per core
(:mod:`snn_sim_ini.threads`). Every code path that touches per-lane state must be cut and
joined right. Spike counts, operation counts and settle steps must be identical for any
number of groups; float scores (decoded spike times, membrane potentials) and the state
carried to the next batch equal to float rounding, as for a different batch size: an
element-wise ``exp`` or a matrix product may round an element differently when the
tensor's size changes (vector and scalar code, kernels chosen by shape).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import attrs
import numpy as np
import pytest
from snn_sim_ini import threads
from snn_sim_ini.engine import Engine, EngineSettings
from snn_sim_ini.primitives import NeuronParams
from test_ini_maxpool_static import network

from snn_core.interfaces import CodeSpec
from snn_core.network import Network, Pool

LANES = 7  # groups of 3 and 4 (two groups) or 2, 3 and 2 (three)
RATE = {"input_rate": 700.0, "num_poisson_events_per_sample": -1}


def _avg_pools(net: Network) -> Network:
    """The same network with average pools (the graded-spike pass-through path)."""
    return Network.from_layers(
        [attrs.evolve(lay, mode="avg") if isinstance(lay, Pool) else lay for lay in net.layers]
    )


def _softmax_out(net: Network) -> Network:
    layers = list(net.layers)
    layers[-1] = attrs.evolve(layers[-1], activation="softmax")
    return Network.from_layers(layers)


CASES = {
    "analog, membrane_max (pruned)": (
        network(8),
        CodeSpec("analog", "if", "spike_count", RATE),
        {"maxpool_type": "membrane_max"},
    ),
    "analog, second consumer (fixed ranking)": (
        network(8, second_consumer=True),
        CodeSpec("analog", "if", "membrane", RATE),
        {"maxpool_type": "membrane_max"},
    ),
    "poisson with an event cap, fir_max": (
        network(8),
        CodeSpec("poisson", "if", "spike_count", {**RATE, "num_poisson_events_per_sample": 300}),
        {"maxpool_type": "fir_max"},
    ),
    "frames, early stopping, average pools": (
        _avg_pools(network(8)),
        CodeSpec("frames", "if", "spike_count", RATE),
        {"early_stopping": True},
    ),
    "softmax output, online normalization, bias relaxation": (
        _softmax_out(network(9)),
        CodeSpec("analog", "if", "spike_count", RATE),
        {
            "online_normalization": (200.0, 100.0, 5),
            "bias_relaxation": True,
            "maxpool_type": "exp_max",
        },
    ),
    "ttfs (phased), early stopping": (
        network(8),
        CodeSpec("ttfs", "ttfs", "first_spike", {"phase_steps": 0}),
        {"early_stopping": True},
    ),
    "temporal pattern (bits)": (
        _avg_pools(network(8)),
        CodeSpec("bits", "bits", "potential", {"num_bits": 8}),
        {},
    ),
}


def _run(net: Network, spec: CodeSpec, extra: dict, groups: int, x: np.ndarray):
    settings = EngineSettings(
        num_steps=48,
        dt=1.0,
        neuron=NeuronParams(v_thresh=0.8, v_init=0.3),
        groups=groups,
        record_every=5,
        **extra,
    )
    engine = Engine(net, spec, settings)
    carry = engine.init_carry(LANES)
    batches = []
    # two batches: the second starts from the first's carried state in lanes 1, 4 and 6
    for b, reset in enumerate([np.ones(LANES, bool), np.arange(LANES) % 3 == 0]):
        scores, ops, carry = engine.simulate(x[b], carry, reset, (3, b))
        batches.append((scores, ops, engine.last_stats, {k: dict(v) for k, v in carry.items()}))
    return engine, batches


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("groups", [2, 3])
def test_groups_give_the_whole_batchs_results(case, groups) -> None:
    net, spec, extra = CASES[case]
    side = net.input.shape[0]
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (2, LANES, side, side, 2)).astype(np.float32)
    if spec.input_encoding == "frames":  # 20 frames, then nothing
        x = rng.uniform(0, 1, (2, LANES, 20, side, side, 2)).astype(np.float32)
        x *= rng.uniform(0, 1, x.shape) < 0.3
    whole_engine, whole = _run(net, spec, extra, 1, x)
    split_engine, split = _run(net, spec, extra, groups, x)
    assert len(whole_engine.lane_groups(LANES)) == 1
    assert len(split_engine.lane_groups(LANES)) == groups
    for (s1, o1, st1, c1), (s2, o2, st2, c2) in zip(whole, split, strict=True):
        assert s1[:, -1].any()  # the network is not silent
        if spec.readout == "spike_count":
            np.testing.assert_array_equal(s1, s2)
        else:
            np.testing.assert_allclose(s1, s2, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(st1["neuron_ops"], st2["neuron_ops"])
        np.testing.assert_array_equal(st1["steps"], st2["steps"])
        for name, value in st1["layer_ops"].items():
            np.testing.assert_array_equal(value, st2["layer_ops"][name], err_msg=name)
        assert c1.keys() == c2.keys()
        for layer, state in c1.items():
            for key, value in state.items():
                np.testing.assert_allclose(
                    value, c2[layer][key], rtol=1e-6, atol=1e-7, err_msg=f"{layer}/{key}"
                )


def test_lane_groups_are_nearly_equal_and_cover_the_batch() -> None:
    engine = Engine(
        network(8),
        CodeSpec("analog", "if", "spike_count", RATE),
        EngineSettings(num_steps=5, dt=1.0, neuron=NeuronParams(), groups=4),
    )
    groups = engine.lane_groups(10)
    assert [(g.start, g.stop) for g in groups] == [(0, 2), (2, 5), (5, 8), (8, 10)]
    assert len(engine.lane_groups(3)) == 3  # never more groups than lanes
    assert len(engine.lane_groups(1)) == 1


def test_plan_gives_each_group_enough_lanes() -> None:
    assert threads.plan(2, 100) == threads.ThreadPlan(groups=2, intra_op=1, inter_op=2)
    assert threads.plan(8, 40) == threads.ThreadPlan(groups=2, intra_op=4, inter_op=2)
    assert not threads.plan(4, threads.MIN_LANES_PER_GROUP * 2 - 1).split
    assert not threads.plan(1, 1000).split
    assert threads.plan(0, 10_000).groups == threads.available_cores()


SCRIPT = """
import tensorflow as tf
from snn_code_rate import TemporalMeanRate
from snn_sim_ini.simulator import IniOptions, IniSimulator
from snn_core.config import Cell, Simulation
from test_ini_maxpool_static import network

sim = IniSimulator(IniOptions(threads=2, device="cpu"))
simulation = Simulation(duration=10, batch_size=40)
sim.configure_process(simulation)
sim.prepare(network(8), TemporalMeanRate(), Cell(), simulation)
late = IniSimulator(IniOptions(threads=4, device="cpu"))  # TensorFlow has started
simulation = Simulation(duration=10, batch_size=64)  # wants 4 groups: other pools
late.configure_process(simulation)
late.prepare(network(8), TemporalMeanRate(), Cell(), simulation)
print(
    tf.config.threading.get_intra_op_parallelism_threads(),
    tf.config.threading.get_inter_op_parallelism_threads(),
    sim.groups,
    late.groups,
)
"""


def test_configure_process_sizes_tensorflows_pools_before_it_starts(tmp_path) -> None:
    """In a fresh process: one thread per op, one inter-op thread per group; a simulator
    that asks for other pools after TensorFlow started keeps one group."""
    here = __file__.rsplit("/", 1)[0]
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {here!r})\n" + SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, textwrap.shorten(proc.stderr, 3000)
    assert proc.stdout.split()[-4:] == ["1", "2", "2", "1"]
