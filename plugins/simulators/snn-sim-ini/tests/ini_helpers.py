"""Small networks and a one-call simulation helper shared by the tests."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from snn_code_rate import TemporalMeanRate
from snn_code_rate.code import RateOptions
from snn_sim_ini.simulator import IniOptions, IniSimulator

from snn_core.ann import forward
from snn_core.config import Cell, Simulation
from snn_core.network import Dense, InputLayer, Layer, Network


def simulator(
    network: Network,
    *,
    cell: Cell | None = None,
    simulation: Simulation | None = None,
    code: RateOptions | None = None,
    **options: Any,
) -> IniSimulator:
    """An IniSimulator prepared for ``network`` with the rate code.

    These tests check the raw neuron dynamics, so unless told otherwise the membrane
    starts at ``v_rest`` and the readout counts output spikes (the SNN Toolbox's
    conventions, not snn's defaults, which are tested on their own).
    """
    cell = cell or Cell()
    if cell.v_init is None:
        cell = attrs.evolve(cell, v_init=cell.v_rest)
    sim = IniSimulator(IniOptions(**options))
    sim.prepare(
        network,
        TemporalMeanRate(code or RateOptions(readout="spike_count")),
        cell,
        simulation or Simulation(duration=100, batch_size=1),
    )
    return sim


def single_neuron(weight: float = 1.0) -> Network:
    """One input driving one IF neuron with ``weight``: input x gives current x * weight."""
    return Network.from_layers(
        [
            InputLayer(name="in", shape=(1,)),
            Dense(name="n", inputs=("in",), shape=(1,), weights=[[weight]], bias=[0.0]),
        ]
    )


def spike_steps(counts: np.ndarray) -> list[int]:
    """1-based steps at which a cumulative count (per step) increased."""
    counts = np.asarray(counts).ravel()
    return [int(i) + 1 for i in np.flatnonzero(np.diff(np.concatenate([[0], counts])) > 0)]


def if_reference(
    currents: list[float],
    v_thresh: float = 1.0,
    reset: str = "subtract",
    v_reset: float = 0.0,
    refrac: int = 0,
    decay: float | None = None,
) -> list[int]:
    """A pure-Python integrate-and-fire neuron; returns the 1-based spike steps."""
    v, wait, out = 0.0, 0, []
    for step, current in enumerate(currents, start=1):
        if decay is not None:
            v *= decay
        if wait == 0:
            v += current
        if v >= v_thresh and wait == 0:
            out.append(step)
            v = {"subtract": v - v_thresh, "zero": v_reset, "modulo": v % v_thresh}[reset]
            wait = refrac
        elif wait:
            wait -= 1
    return out


def normalize(network: Network, x: np.ndarray, percentile: float = 99.9) -> Network:
    """Layer-wise data-based normalisation (Rueckauer et al. 2017) of a chain network."""
    names = [lay.name for lay in network if "weights" in lay.arrays() or "kernel" in lay.arrays()]
    acts = forward(network, x, outputs=names)
    prev = 1.0
    new: list[Layer] = []
    for name in names:
        layer = network[name]
        lam = float(np.percentile(acts[name], percentile)) or 1.0
        key = "weights" if "weights" in layer.arrays() else "kernel"
        new.append(
            layer.evolve(**{key: getattr(layer, key) * prev / lam, "bias": layer.bias / lam})
        )
        prev = lam
    return network.replace(*new)
