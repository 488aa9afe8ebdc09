"""The primitives a spike code is made of, keyed by the strings of its ``CodeSpec``.

Each primitive is a small class (imports TensorFlow) whose state is a dict of tensors
with the batch axis first, so the engine can carry it through one ``tf.while_loop``:

* input encoders (:data:`INPUT_ENCODERS`, by ``input_encoding``) turn a batch of samples
  into what the first layers receive at each step;
* neuron models (:data:`NEURON_MODELS`, by ``neuron_model``; :data:`SOFTMAX_NEURONS` for
  layers with a softmax activation) turn an input current into spikes;
* resets (:data:`RESETS`, by ``Cell.reset``) say what a spike does to the membrane;
* readouts (:data:`READOUTS`, by ``readout``) turn output spikes into class scores;
* max-pool scores (:data:`MAXPOOL_SCORES`, by the simulator's ``maxpool_type``) rank the
  inputs of a spiking max-pooling window.

A new code adds entries to these tables; nothing else in the simulator names a code.

Units: one step is one unit of time for the dynamics. With normalised weights, a
threshold of 1 and the default analog input, a neuron's spikes per step approximate the
ANN activation. ``dt`` converts steps to milliseconds (reported times, refractory period,
leak, Poisson rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np
import tensorflow as tf

State = dict[str, tf.Tensor]


@attrs.frozen
class NeuronParams:
    """The numbers neuron primitives need (translated from :class:`snn_core.config.Cell`)."""

    v_thresh: float = 1.0
    v_reset: float = 0.0
    v_rest: float = 0.0
    #: Membrane potential at the start of a sample.
    v_init: float = 0.0
    #: Steps after a spike during which input is ignored and no spike is emitted.
    refrac_steps: int = 0
    reset: str = "subtract"
    #: Per-step decay factor of ``v - v_rest`` (``exp(-dt / tau_m)``), or None: no leak.
    leak_decay: float | None = None
    #: Constant current added every step.
    i_offset: float = 0.0

    @classmethod
    def from_cell(cls, cell: Any, dt: float) -> NeuronParams:
        """Translate a :class:`snn_core.config.Cell` for a time step of ``dt`` ms."""
        return cls(
            v_thresh=float(cell.v_thresh),
            v_reset=float(cell.v_reset),
            v_rest=float(cell.v_rest),
            v_init=float(cell.initial_v),
            refrac_steps=round(cell.tau_refrac / dt),
            reset=str(cell.reset),
            leak_decay=math.exp(-dt / cell.tau_m) if cell.leak else None,
            i_offset=float(cell.i_offset),
        )


def _zeros(batch: tf.Tensor, shape: tuple[int, ...], value: float = 0.0) -> tf.Tensor:
    return tf.fill(tf.concat([[batch], tf.constant(shape, tf.int32)], 0), np.float32(value))


# -- input encoders -------------------------------------------------------------------


class AnalogInput:
    """The sample's values, injected unchanged every step (a constant current)."""

    #: The output does not change over time, so consumers can compute their input once.
    static = True

    def __init__(self, params: Mapping[str, Any], dt: float) -> None:
        pass

    def prepare(self, x: tf.Tensor) -> State:
        """Per-batch constants, computed once before the time loop."""
        return {"x": x}

    def init_state(self, x: tf.Tensor) -> State:
        """Per-sample state at the start of a sample."""
        return {}

    def step(self, consts: State, state: State, t: tf.Tensor, seed: tf.Tensor):
        """Return ``(input at step t, new state)``."""
        return consts["x"], state


class PoissonInput:
    """Bernoulli spikes per step with probability ``|x| * input_rate * dt / 1000``.

    Spikes carry the sign of ``x`` and amplitude 1, so the mean input per step is
    ``x * input_rate * dt / 1000`` (``x`` itself for the default 1000 Hz at 1 ms).
    With ``num_poisson_events_per_sample > 0`` a sample's input falls silent once it has
    emitted that many spikes (counted at the end of each step, so the step that reaches
    the cap may exceed it). Random numbers are drawn statelessly from the batch seed and
    the step, so runs are reproducible.
    """

    static = False

    def __init__(self, params: Mapping[str, Any], dt: float) -> None:
        self.scale = float(params.get("input_rate", 1000.0)) * dt / 1000.0
        self.cap = int(params.get("num_poisson_events_per_sample", -1))

    def prepare(self, x: tf.Tensor) -> State:
        return {"p": tf.minimum(tf.abs(x) * self.scale, 1.0), "sign": tf.sign(x)}

    def init_state(self, x: tf.Tensor) -> State:
        return {"count": tf.zeros(tf.shape(x)[:1], tf.float32)} if self.cap > 0 else {}

    def step(self, consts: State, state: State, t: tf.Tensor, seed: tf.Tensor):
        p = consts["p"]
        u = tf.random.stateless_uniform(
            tf.shape(p), seed=tf.random.experimental.stateless_fold_in(seed, t)
        )
        spikes = tf.cast(u < p, tf.float32) * consts["sign"]
        if self.cap <= 0:
            return spikes, state
        count = state["count"]
        allowed = tf.cast(count < self.cap, tf.float32)
        spikes = spikes * tf.reshape(allowed, [-1] + [1] * (len(p.shape) - 1))
        axes = list(range(1, len(p.shape)))
        return spikes, {"count": count + tf.reduce_sum(tf.abs(spikes), axis=axes)}


INPUT_ENCODERS: dict[str, type] = {"analog": AnalogInput, "poisson": PoissonInput}


# -- resets -----------------------------------------------------------------------------


def _reset_subtract(v: tf.Tensor, fired: tf.Tensor, p: NeuronParams) -> tf.Tensor:
    return v - tf.cast(fired, tf.float32) * p.v_thresh


def _reset_zero(v: tf.Tensor, fired: tf.Tensor, p: NeuronParams) -> tf.Tensor:
    return tf.where(fired, np.float32(p.v_reset), v)


def _reset_modulo(v: tf.Tensor, fired: tf.Tensor, p: NeuronParams) -> tf.Tensor:
    return tf.where(fired, tf.math.floormod(v, p.v_thresh), v)


#: What a spike does to the membrane: subtract the threshold (keeps the residual charge),
#: set it to ``v_reset``, or take it modulo the threshold.
RESETS: dict[str, Callable[[tf.Tensor, tf.Tensor, NeuronParams], tf.Tensor]] = {
    "subtract": _reset_subtract,
    "zero": _reset_zero,
    "modulo": _reset_modulo,
}


# -- neurons ----------------------------------------------------------------------------


class IFNeurons:
    """Integrate-and-fire neurons (optionally leaky and refractory).

    Each step, in this order: the membrane ``v`` decays towards ``v_rest`` (with leak);
    the input current (zero while refractory) and ``i_offset`` are added; a clamped layer
    holds ``v`` at ``v_rest``; neurons with ``v >= v_thresh`` that are not refractory
    spike and are reset; a spike starts ``refrac_steps`` steps of refractoriness.
    The membrane starts at ``v_init`` (:attr:`snn_core.config.Cell.initial_v`).
    """

    def __init__(self, shape: tuple[int, ...], params: NeuronParams) -> None:
        self.shape = shape
        self.p = params
        self.reset = RESETS[params.reset]

    def init_state(self, batch: tf.Tensor) -> State:
        state = {"v": _zeros(batch, self.shape, self.p.v_init)}
        if self.p.refrac_steps > 0:
            state["refrac"] = _zeros(batch, self.shape)
        return state

    def step(self, current: tf.Tensor, state: State, t: tf.Tensor, clamped: tf.Tensor | None):
        """Return ``(binary spikes, new state)`` for one step."""
        p = self.p
        v = state["v"]
        if p.leak_decay is not None:
            v = p.v_rest + (v - p.v_rest) * p.leak_decay
        refractory = None
        if p.refrac_steps > 0:
            refractory = state["refrac"] > 0
            current = tf.where(refractory, np.float32(0), current)
        v = v + current
        if p.i_offset:
            v = v + p.i_offset
        if clamped is not None:
            v = tf.where(clamped, np.float32(p.v_rest), v)
        fired = v >= p.v_thresh
        if refractory is not None:
            fired = tf.logical_and(fired, tf.logical_not(refractory))
        new = {"v": self.reset(v, fired, p)}
        if refractory is not None:
            new["refrac"] = tf.where(
                fired, np.float32(p.refrac_steps), tf.maximum(state["refrac"] - 1.0, 0.0)
            )
        return tf.cast(fired, tf.float32), new


class SpikingSoftmax:
    """A softmax output layer as integrate-and-fire neurons driven by a softmax.

    The layer accumulates its input current ``a`` (no reset); each step every neuron
    integrates ``softmax(a / steps so far)`` - the softmax of the mean input current,
    which approximates the ANN's logits - and fires when that integral reaches 1
    (reset by subtraction). Rates therefore converge to the ANN's softmax output and sum
    to one spike per step; the process is deterministic, unlike the reference
    toolbox's Bernoulli draw. Refractoriness and clamping do not apply.
    """

    def __init__(self, shape: tuple[int, ...], params: NeuronParams) -> None:
        self.shape = shape
        self.p = params

    def init_state(self, batch: tf.Tensor) -> State:
        return {"a": _zeros(batch, self.shape), "u": _zeros(batch, self.shape)}

    def step(self, current: tf.Tensor, state: State, t: tf.Tensor, clamped: tf.Tensor | None):
        a = state["a"] + current
        u = state["u"] + tf.nn.softmax(a / tf.cast(t + 1, tf.float32))
        fired = u >= 1.0
        s = tf.cast(fired, tf.float32)
        return s, {"a": a, "u": u - s}


NEURON_MODELS: dict[str, type] = {"if": IFNeurons}
SOFTMAX_NEURONS: dict[str, type] = {"if": SpikingSoftmax}


# -- readouts ---------------------------------------------------------------------------


class SpikeCount:
    """Scores are the cumulative spike counts of the output neurons."""

    def __init__(self, num_classes: int) -> None:
        self.n = num_classes

    def init_state(self, batch: tf.Tensor) -> State:
        return {"count": _zeros(batch, (self.n,))}

    def step(self, spikes: tf.Tensor, current: tf.Tensor, state: State) -> State:
        return {"count": state["count"] + tf.reshape(spikes, [-1, self.n])}

    def scores(self, state: State) -> tf.Tensor:
        return state["count"]


class Membrane:
    """Scores are the output neurons' accumulated input current (their membrane potential
    without any reset): the output layer integrates but its spikes are not needed, so
    its own rate quantisation does not limit the accuracy at short durations."""

    def __init__(self, num_classes: int) -> None:
        self.n = num_classes

    def init_state(self, batch: tf.Tensor) -> State:
        return {"v": _zeros(batch, (self.n,))}

    def step(self, spikes: tf.Tensor, current: tf.Tensor, state: State) -> State:
        return {"v": state["v"] + tf.reshape(current, [-1, self.n])}

    def scores(self, state: State) -> tf.Tensor:
        return state["v"]


READOUTS: dict[str, type] = {"spike_count": SpikeCount, "membrane": Membrane}


# -- spiking max pooling ----------------------------------------------------------------


def _fir_max(window_ms: float, dt: float) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    def update(score: tf.Tensor, spikes: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
        return score + spikes

    return update


def _exp_max(window_ms: float, dt: float) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    decay = np.float32(math.exp(-dt / window_ms))

    def update(score: tf.Tensor, spikes: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
        return score * decay + spikes

    return update


def _avg_max(window_ms: float, dt: float) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    window = max(1.0, round(window_ms / dt))

    def update(score: tf.Tensor, spikes: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
        n = tf.minimum(tf.cast(t + 1, tf.float32), window)
        return score + (spikes - score) / n

    return update


#: How a spiking max pool ranks its inputs (updated with the current step's spikes before
#: the window's winner is chosen):
#: ``fir_max``: the input's spike count so far;
#: ``exp_max``: its spikes filtered exponentially, ``s <- s * exp(-dt / window) + spike``;
#: ``avg_max``: its mean spikes per step, a running mean over the steps so far that becomes
#: an exponential moving average with horizon ``window / dt`` steps once that many passed.
MAXPOOL_SCORES: dict[str, Callable[[float, float], Callable[..., tf.Tensor]]] = {
    "fir_max": _fir_max,
    "exp_max": _exp_max,
    "avg_max": _avg_max,
}
