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

from snn_sim_ini.frames import FramesInput

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


@attrs.frozen
class NeuronContext:
    """What a neuron model may need to know about its layer besides the shape.

    Phased codes (``temporal_pattern``, ``ttfs``) work layer by layer: time is cut into
    phases of ``phase_steps`` steps; a layer integrates its input during phase
    ``integrate_phase`` (its depth - 1) and emits during phases ``fire_first`` to
    ``fire_last`` (its depth, up to the last phase any consumer integrates in).
    """

    name: str = ""
    #: The layer's bias (the linear op adds it every step; phased neurons take it out).
    bias: np.ndarray | None = None
    #: Steps per phase; 0: the code is not phased.
    phase_steps: int = 0
    integrate_phase: int = -1
    fire_first: int = 0
    fire_last: int = -1
    #: The code's ``CodeSpec.params``.
    params: Mapping[str, Any] = attrs.field(factory=dict)
    #: Per output channel, the most inhibition a neuron can receive from inputs of value
    #: at most 1 (the sum of its negative incoming weights' magnitudes, see
    #: :func:`max_inhibition`); set only for neuron models with ``needs_inhibition``.
    inhibition: np.ndarray | None = None

    def channel_bias(self, shape: tuple[int, ...]) -> np.ndarray:
        """The layer's bias per output channel (zeros for a layer without one)."""
        last = shape[-1:]
        bias = np.zeros(last, np.float32) if self.bias is None else self.bias
        return np.broadcast_to(np.asarray(bias, np.float32), last)


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


INPUT_ENCODERS: dict[str, type] = {
    "analog": AnalogInput,
    "poisson": PoissonInput,
    "frames": FramesInput,
}


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

    #: Each neuron's state depends on its own input only (without online normalization),
    #: so the engine may simulate a subset of a layer (see ``Engine._prune``).
    independent = True
    #: Spike trains carry values linearly (rate), so a linear layer without neurons (an
    #: average pool) may act on the spikes themselves.
    linear_spikes = True

    def __init__(
        self, shape: tuple[int, ...], params: NeuronParams, ctx: NeuronContext | None = None
    ) -> None:
        self.shape = shape
        self.p = params
        self.reset = RESETS[params.reset]
        cparams = ctx.params if ctx else {}
        self.payloads = bool(cparams.get("payloads", False))
        #: (diff_to_max_rate, diff_to_min_rate, every) or None; see :meth:`_normalize`.
        self.online = cparams.get("online_normalization")
        self.max_rate = 1000.0 / float(cparams.get("dt", 1.0))

    def active(self, t: tf.Tensor) -> tf.Tensor | bool:
        """Whether the neurons update their state at step ``t`` (counted as neuron ops)."""
        return True

    @property
    def binary_spikes(self) -> bool:
        """Whether :meth:`step` returns only 0 and 1 (not membrane payloads)."""
        return not self.payloads

    def potential(self, state: State) -> tf.Tensor:
        """The membrane potential (for the ``potential`` readout)."""
        return state["v"]

    def init_state(self, batch: tf.Tensor) -> State:
        state = {"v": _zeros(batch, self.shape, self.p.v_init)}
        if self.p.refrac_steps > 0:
            state["refrac"] = _zeros(batch, self.shape)
        if self.online:
            state["count"] = _zeros(batch, self.shape)
            state["thr"] = _zeros(batch, (), self.p.v_thresh)
        return state

    def _normalize(self, count: tf.Tensor, thr: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
        """Online normalization: every ``every``-th step, lower the threshold of a lane
        whose highest rate (Hz) is more than ``diff_to_max`` below the maximum rate and
        above ``diff_to_min`` to ``v_thresh * (0.01 + 0.99 * rate / max_rate)``."""
        diff_max, diff_min, every = self.online
        steps = tf.cast(t + 1, tf.float32)
        axes = list(range(1, len(self.shape) + 1))
        rate = tf.reduce_max(count, axis=axes) / steps * self.max_rate
        act = tf.logical_and(rate < self.max_rate - diff_max, rate > diff_min)
        act = tf.logical_and(act, tf.equal((t + 1) % every, 0))
        new = self.p.v_thresh * (0.01 + 0.99 * rate / self.max_rate)
        return tf.where(act, new, thr)

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
        if self.online:
            thr = tf.reshape(state["thr"], [-1] + [1] * len(self.shape))
            p = attrs.evolve(p, v_thresh=thr)
        fired = v >= p.v_thresh
        if refractory is not None:
            fired = tf.logical_and(fired, tf.logical_not(refractory))
        if self.payloads:
            # a spike carries the whole membrane potential (in units of the threshold,
            # since the engine scales spikes by v_thresh) and empties the membrane
            out = tf.where(fired, v / self.p.v_thresh, np.float32(0))
            new = {"v": tf.where(fired, np.float32(p.v_reset), v)}
        else:
            out = tf.cast(fired, tf.float32)
            new = {"v": self.reset(v, fired, p)}
        if refractory is not None:
            new["refrac"] = tf.where(
                fired, np.float32(p.refrac_steps), tf.maximum(state["refrac"] - 1.0, 0.0)
            )
        if self.online:
            new["count"] = state["count"] + tf.cast(fired, tf.float32)
            new["thr"] = self._normalize(new["count"], state["thr"], t)
        return out, new


def _softmax(x: tf.Tensor) -> tf.Tensor:
    """Softmax over the last axis from elementary ops: on the small output layer of a
    time step, several times faster than ``tf.nn.softmax`` (whose oneDNN kernel costs
    tens of microseconds a call on CPU)."""
    e = tf.exp(x - tf.reduce_max(x, axis=-1, keepdims=True))
    return e / tf.reduce_sum(e, axis=-1, keepdims=True)


class SpikingSoftmax:
    """A softmax output layer as integrate-and-fire neurons driven by a softmax.

    The layer accumulates its input current ``a`` (no reset); each step every neuron
    integrates ``softmax(a / steps so far)`` - the softmax of the mean input current,
    which approximates the ANN's logits - and fires when that integral reaches 1
    (reset by subtraction). Rates therefore converge to the ANN's softmax output and sum
    to one spike per step; the process is deterministic, unlike the reference
    toolbox's Bernoulli draw. Refractoriness and clamping do not apply.
    """

    def __init__(
        self, shape: tuple[int, ...], params: NeuronParams, ctx: NeuronContext | None = None
    ) -> None:
        self.shape = shape
        self.p = params

    def active(self, t: tf.Tensor) -> tf.Tensor | bool:
        return True

    def potential(self, state: State) -> tf.Tensor:
        return state["a"]

    def init_state(self, batch: tf.Tensor) -> State:
        return {"a": _zeros(batch, self.shape), "u": _zeros(batch, self.shape)}

    def step(self, current: tf.Tensor, state: State, t: tf.Tensor, clamped: tf.Tensor | None):
        a = state["a"] + current
        u = state["u"] + _softmax(a / tf.cast(t + 1, tf.float32))
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

    def step(self, spikes: tf.Tensor, current: tf.Tensor, state: State, neurons=None) -> State:
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

    def step(self, spikes: tf.Tensor, current: tf.Tensor, state: State, neurons=None) -> State:
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
    # membrane_max: the same accumulation as fir_max, of the input neurons' input current
    # (their membrane potential without resets) instead of their spikes, so the window's
    # winner is the input with the largest estimated activation from the first step on.
    "membrane_max": _fir_max,
    "fir_max": _fir_max,
    "exp_max": _exp_max,
    "avg_max": _avg_max,
}


# -- phased codes: bit patterns (temporal_pattern) and time to first spike (ttfs) ----------
#
# These codes work layer by layer (see :class:`NeuronContext`): the input layer emits
# during phase 0, a layer at depth d integrates during phase d - 1 and emits during
# phase d (and later phases if a deeper consumer needs its output again); the output
# layer's value is complete at the end of phase D - 1 (D: its depth).


def _phase(t: tf.Tensor, steps: int) -> tuple[tf.Tensor, tf.Tensor]:
    steps_t = tf.constant(steps, tf.int32)
    return t // steps_t, t % steps_t


def _between(phase: tf.Tensor, first: int, last: int) -> tf.Tensor:
    return tf.logical_and(phase >= first, phase <= last)


def quantize_bits(value: tf.Tensor, num_bits: int) -> tf.Tensor:
    """``floor(clip(value, 0, 1) * 2**num_bits)``, at most ``2**num_bits - 1`` (float64)."""
    top = float(2**num_bits - 1)
    v = tf.cast(value, tf.float64)
    return tf.clip_by_value(tf.floor(v * float(2**num_bits)), 0.0, top)


def bit_of(q: tf.Tensor, k: tf.Tensor, num_bits: int) -> tf.Tensor:
    """Bit ``k`` (0: the most significant, weight 1/2) of ``q / 2**num_bits``, as float32."""
    shift = tf.pow(tf.constant(2.0, tf.float64), tf.cast(num_bits - 1 - k, tf.float64))
    return tf.cast(tf.math.floormod(tf.floor(q / shift), 2.0), tf.float32)


class BitsInput:
    """``temporal_pattern`` input: each value as ``num_bits`` binary spikes, MSB first.

    Step ``k`` of a phase carries bit ``k`` of ``floor(clip(|x|, 0, 1) * 2**num_bits)``
    (weight ``2**-(k + 1)``) with the sign of ``x``; the receiving layer applies the
    weights. Values of 1 and more are clipped to ``1 - 2**-num_bits``.
    """

    static = False

    def __init__(self, params: Mapping[str, Any], dt: float) -> None:
        self.num_bits = int(params.get("num_bits", 8))
        self.fire_last = 0

    def bind(self, ctx: NeuronContext) -> None:
        """Learn the phases the input emits in (set by the engine)."""
        self.fire_last = ctx.fire_last

    def prepare(self, x: tf.Tensor) -> State:
        return {"q": quantize_bits(tf.abs(x), self.num_bits), "sign": tf.sign(x)}

    def init_state(self, x: tf.Tensor) -> State:
        return {}

    def step(self, consts: State, state: State, t: tf.Tensor, seed: tf.Tensor):
        phase, k = _phase(t, self.num_bits)
        on = tf.cast(phase <= self.fire_last, tf.float32)
        return bit_of(consts["q"], k, self.num_bits) * consts["sign"] * on, state


class BitNeurons:
    """``temporal_pattern`` neurons: integrate bit-weighted input, re-emit as bits.

    During its integration phase the layer accumulates ``a += 2**-(k + 1) * (W s_k)``
    over the ``num_bits`` steps ``k`` (plus the bias once), which is exactly the ANN's
    pre-activation of the quantized inputs; during its firing phase(s) it emits the bits
    of ``floor(clip(a / v_thresh, 0, 1) * 2**num_bits)`` (ReLU and quantization in one),
    most significant first. Each neuron spikes at most ``num_bits`` times per phase.
    """

    phased = True

    @staticmethod
    def phase_steps(params: Mapping[str, Any], num_steps: int, depth: int) -> int:
        """Steps per phase: one per bit."""
        return int(params.get("num_bits", 8))

    def __init__(self, shape: tuple[int, ...], params: NeuronParams, ctx: NeuronContext) -> None:
        self.shape = shape
        self.theta = np.float32(params.v_thresh)
        self.ctx = ctx
        self.num_bits = ctx.phase_steps
        self.bias = ctx.channel_bias(shape)

    def init_state(self, batch: tf.Tensor) -> State:
        return {"a": _zeros(batch, self.shape)}

    def active(self, t: tf.Tensor) -> tf.Tensor:
        phase, _ = _phase(t, self.num_bits)
        c = self.ctx
        return tf.logical_or(phase == c.integrate_phase, _between(phase, c.fire_first, c.fire_last))

    def potential(self, state: State) -> tf.Tensor:
        return state["a"]

    def step(self, current: tf.Tensor, state: State, t: tf.Tensor, clamped: tf.Tensor | None):
        c = self.ctx
        phase, k = _phase(t, self.num_bits)
        integrating = phase == c.integrate_phase
        first = tf.logical_and(integrating, tf.equal(k, 0))
        a = tf.where(first, np.float32(0), state["a"])
        weight = tf.pow(np.float32(0.5), tf.cast(k + 1, tf.float32))
        b = tf.constant(self.bias)
        add = (current - b) * weight + b * tf.cast(tf.equal(k, 0), tf.float32)
        a = a + add * tf.cast(integrating, tf.float32)
        q = quantize_bits(a / self.theta, self.num_bits)
        firing = tf.cast(_between(phase, c.fire_first, c.fire_last), tf.float32)
        return bit_of(q, k, self.num_bits) * firing, {"a": a}


class TTFSInput:
    """``ttfs`` input: each value as one spike whose earliness encodes its size.

    In a phase of ``P`` steps, a value ``x`` (clipped to ``[0, 1]``, sign carried by the
    spike) fires at local step ``P - round(|x| P)``; ``round(|x| P) = 0`` does not fire.
    A consumer that integrates a constant current from the spike on until the end of the
    phase receives ``round(|x| P) / P`` per unit weight and step: the value, quantized to
    ``1 / P``.
    """

    static = False

    def __init__(self, params: Mapping[str, Any], dt: float) -> None:
        self.steps = 0
        self.fire_last = 0

    def bind(self, ctx: NeuronContext) -> None:
        self.steps = ctx.phase_steps
        self.fire_last = ctx.fire_last

    def prepare(self, x: tf.Tensor) -> State:
        levels = tf.round(tf.clip_by_value(tf.abs(x), 0.0, 1.0) * self.steps)
        # local step of the spike; P (never reached) for a value that rounds to zero
        return {"when": tf.cast(self.steps - levels, tf.int32), "sign": tf.sign(x)}

    def init_state(self, x: tf.Tensor) -> State:
        return {}

    def step(self, consts: State, state: State, t: tf.Tensor, seed: tf.Tensor):
        phase, k = _phase(t, self.steps)
        fire = tf.logical_and(tf.equal(consts["when"], k), phase <= self.fire_last)
        return tf.cast(fire, tf.float32) * consts["sign"], state


class TTFSNeurons:
    """``ttfs`` neurons: at most one spike per phase, earlier for a larger value.

    Integration phase (``P`` steps): an incoming spike switches on a constant synaptic
    current (its weight) until the end of the phase, ``I += W s``; the membrane integrates
    ``V += I + b``, so at the end ``V = P (W x + b)`` for the inputs' quantized values
    ``x``. Firing phase: the membrane's value ``V / (P v_thresh)`` rises by ``1 / P`` per
    step (a constant ramp current) and the neuron fires once, when it crosses
    ``1 - 1 / (2P)``: at local step ``P - round(value P)``, so larger values fire earlier,
    values of at least 1 at once, and values below ``1 / (2P)`` (ReLU) never.
    The ``ttfs_dyn_thresh`` code overlaps the layers instead, raising the threshold by
    the most inhibition a neuron may still receive (see :class:`TTFSDynThreshNeurons`).
    """

    phased = True

    @staticmethod
    def phase_steps(params: Mapping[str, Any], num_steps: int, depth: int) -> int:
        """``params["phase_steps"]`` or, when 0, the duration split into ``depth + 1``
        phases (the output layer's depth, plus its own firing phase)."""
        return int(params.get("phase_steps", 0)) or num_steps // (depth + 1)

    def __init__(self, shape: tuple[int, ...], params: NeuronParams, ctx: NeuronContext) -> None:
        self.shape = shape
        self.theta = np.float32(params.v_thresh)
        self.ctx = ctx
        self.steps = ctx.phase_steps
        self.bias = ctx.channel_bias(shape)

    def init_state(self, batch: tf.Tensor) -> State:
        z = _zeros(batch, self.shape)
        return {"i": z, "v": z, "fired": z}

    def active(self, t: tf.Tensor) -> tf.Tensor:
        phase, _ = _phase(t, self.steps)
        c = self.ctx
        return tf.logical_or(phase == c.integrate_phase, _between(phase, c.fire_first, c.fire_last))

    def potential(self, state: State) -> tf.Tensor:
        """The value the membrane encodes (``V / (P v_thresh)``)."""
        return state["v"] / (self.steps * self.theta)

    def step(self, current: tf.Tensor, state: State, t: tf.Tensor, clamped: tf.Tensor | None):
        c = self.ctx
        phase, k = _phase(t, self.steps)
        integrating = phase == c.integrate_phase
        start = tf.logical_and(integrating, tf.equal(k, 0))
        i = tf.where(start, np.float32(0), state["i"])
        v = tf.where(start, np.float32(0), state["v"])
        on = tf.cast(integrating, tf.float32)
        b = tf.constant(self.bias)
        i = i + (current - b) * on
        v = v + (i + b) * on
        firing = _between(phase, c.fire_first, c.fire_last)
        fired = tf.where(tf.equal(k, 0), np.float32(0), state["fired"])
        ramp = v / (self.steps * self.theta) + tf.cast(k, tf.float32) / self.steps
        cross = ramp >= np.float32(1.0 - 0.5 / self.steps)
        fire = tf.logical_and(tf.logical_and(firing, cross), fired < 0.5)
        s = tf.cast(fire, tf.float32)
        return s, {"i": i, "v": v, "fired": fired + s}


class Potential:
    """Scores are the output neurons' potential as their neuron model defines it (the
    integrated value of a phased code's output layer, the membrane of IF neurons)."""

    def __init__(self, num_classes: int) -> None:
        self.n = num_classes

    def init_state(self, batch: tf.Tensor) -> State:
        return {"v": _zeros(batch, (self.n,))}

    def step(self, spikes: tf.Tensor, current: tf.Tensor, state: State, neurons=None) -> State:
        model, nstate = neurons
        return {"v": tf.reshape(model.potential(nstate), [-1, self.n])}

    def scores(self, state: State) -> tf.Tensor:
        return state["v"]


class FirstSpike:
    """The earliest output spike decides (time to first spike).

    Score of a class: ``2 + steps left after its first spike + sigmoid(potential)`` once
    it has fired (so earlier is better and simultaneous spikes are ranked by potential),
    ``sigmoid(potential)`` before (the membrane decides while no output has fired; with
    early stopping a sample stops at its first output spike).
    """

    #: Steps of a sample (set by the engine); scores stay exact float32 integers below 2**23.
    horizon: float = 1e4

    def __init__(self, num_classes: int) -> None:
        self.n = num_classes

    def init_state(self, batch: tf.Tensor) -> State:
        return {
            "first": _zeros(batch, (self.n,), -1.0),
            "t": _zeros(batch, ()),
            "p": _zeros(batch, (self.n,)),
        }

    def step(self, spikes: tf.Tensor, current: tf.Tensor, state: State, neurons=None) -> State:
        s = tf.reshape(spikes, [-1, self.n])
        t = state["t"] + 1.0
        new = tf.logical_and(s > 0, state["first"] < 0)
        first = tf.where(new, tf.broadcast_to(t[:, None], tf.shape(s)), state["first"])
        p = state["p"]
        if neurons is not None:
            model, nstate = neurons
            p = tf.reshape(model.potential(nstate), [-1, self.n])
        return {"first": first, "t": t, "p": p}

    def scores(self, state: State) -> tf.Tensor:
        fired = state["first"] >= 0
        bonus = tf.where(fired, 2.0 + 2.0 * (self.horizon + 1.0 - state["first"]), 0.0)
        return bonus + tf.sigmoid(state["p"])

    def settled(self, state: State) -> tf.Tensor:
        """``(batch,)``: an output neuron has fired."""
        return tf.reduce_any(state["first"] >= 0, axis=-1)


# -- ttfs with dynamic thresholds (ttfs_dyn_thresh) ----------------------------------------


def max_inhibition(layer: Any) -> np.ndarray:
    """Per output channel, the sum of the magnitudes of a layer's negative incoming weights.

    An upper bound of the inhibition a neuron can receive from inputs of values in
    ``[0, 1]`` (a convolution's border neurons have fewer inputs, so less). Layers
    without weights (average pooling) have none.
    """
    w = getattr(layer, "weights", None)
    if w is None:
        w = getattr(layer, "kernel", None)
    if w is None:
        return np.zeros(tuple(layer.shape)[-1:], np.float32)
    w = np.asarray(w, np.float32)
    neg = np.maximum(-w, 0.0)
    return neg.reshape(-1, w.shape[-1]).sum(0).astype(np.float32)


class TTFSWindowInput:
    """``ttfs_dyn_thresh`` input: one spike per value in a window of ``2 L`` steps.

    ``L`` is the code's lag (the engine's phase). A value ``x`` (clipped to ``[0, 1]``,
    sign carried by the spike) fires at step ``P - round(|x| P)`` with ``P = 2 L``;
    ``round(|x| P) = 0`` does not fire.
    """

    static = False

    def __init__(self, params: Mapping[str, Any], dt: float) -> None:
        self.window = 0

    def bind(self, ctx: NeuronContext) -> None:
        self.window = 2 * ctx.phase_steps

    def prepare(self, x: tf.Tensor) -> State:
        levels = tf.round(tf.clip_by_value(tf.abs(x), 0.0, 1.0) * self.window)
        return {"when": tf.cast(self.window - levels, tf.int32), "sign": tf.sign(x)}

    def init_state(self, x: tf.Tensor) -> State:
        return {}

    def step(self, consts: State, state: State, t: tf.Tensor, seed: tf.Tensor):
        fire = tf.equal(consts["when"], t)
        return tf.cast(fire, tf.float32) * consts["sign"], state


class TTFSDynThreshNeurons:
    """``ttfs_dyn_thresh`` neurons: one spike, fired as soon as its value is certain.

    Time to first spike with overlapping layers (Rueckauer & Liu 2018's dynamic
    threshold). Every layer encodes its values in a window of ``P = 2 L`` steps, a
    value ``y`` as one spike at window step ``P - round(y P)``; the window of the layer at
    depth ``d`` starts at step ``d L``, ``L`` steps (the lag) after its inputs' window, so
    layers overlap by half a window instead of waiting for each other.

    Over its inputs' window a neuron integrates as ``ttfs`` does (a spike switches on a
    constant current, its weight), so its membrane tells at each step the part of its
    value ``a`` already known: the contribution of every input that has fired, plus the
    bias. Inputs that have not fired by input-window step ``m`` have values of at most
    ``(P - m - 1) / P``, so ``a`` is at least ``known - H (P - m - 1) / P``, ``H`` the
    neuron's largest possible inhibition (:func:`max_inhibition`; a bound that does not
    discount inputs that already fired, and assumes non-negative input values). At its
    own window step ``k`` the neuron fires if that lower bound reaches the value its
    spike would encode, ``(P - k) / P``: its threshold ``1 - k / P`` (minus half a level,
    for rounding) is raised by the inhibition it can still receive. So it never fires
    earlier than ``ttfs`` would (it never overestimates); it may fire later than its
    value (underestimate) when inhibition might still have come but did not. Values
    up to ``1/2`` fire after the inputs' window has closed and are exact. Each neuron fires
    at most once per sample.
    """

    phased = True
    needs_inhibition = True

    @staticmethod
    def value_phases(depth: int) -> int:
        """Lags until the output layer's value is complete (its inputs' window closes)."""
        return depth + 1

    @staticmethod
    def phase_steps(params: Mapping[str, Any], num_steps: int, depth: int) -> int:
        """The lag ``L``: ``params["phase_steps"]`` or, when 0, the duration split into
        ``depth + 2`` lags (the output layer's window ends at ``(depth + 2) L``)."""
        return int(params.get("phase_steps", 0)) or num_steps // (depth + 2)

    def __init__(self, shape: tuple[int, ...], params: NeuronParams, ctx: NeuronContext) -> None:
        from snn_core.errors import ConfigError

        if ctx.fire_last != ctx.fire_first:
            raise ConfigError(
                f"layer {ctx.name!r}: the 'ttfs_dyn_thresh' code needs every consumer of a "
                f"layer of neurons to be exactly one layer of neurons deeper (found a "
                f"consumer {ctx.fire_last - ctx.fire_first + 1} layers deeper); use the "
                "'ttfs' code for networks with skip connections"
            )
        self.shape = shape
        self.theta = np.float32(params.v_thresh)
        self.ctx = ctx
        self.lag = ctx.phase_steps
        self.window = 2 * ctx.phase_steps
        self.start = (ctx.integrate_phase) * self.lag  # the inputs' window
        last = shape[-1:]
        self.bias = ctx.channel_bias(shape)
        inh = np.zeros(last, np.float32) if ctx.inhibition is None else ctx.inhibition
        self.inhibition = np.broadcast_to(np.asarray(inh, np.float32), last)

    def init_state(self, batch: tf.Tensor) -> State:
        z = _zeros(batch, self.shape)
        return {"i": z, "v": z, "fired": z, "v_known": z}

    def active(self, t: tf.Tensor) -> tf.Tensor:
        return tf.logical_and(t >= self.start, t < self.start + self.lag + self.window)

    def _known(self, state: State, m: tf.Tensor) -> tf.Tensor:
        # value of the fired inputs, each weighted by (P - t_j) / P, plus the bias
        rest = tf.cast(tf.maximum(self.window - 1 - m, 0), tf.float32)
        known = (state["v"] + state["i"] * rest) / self.window + tf.constant(self.bias)
        return known / self.theta

    def potential(self, state: State) -> tf.Tensor:
        """The known part of the value (exact once the inputs' window has closed)."""
        return state["v_known"]

    def step(self, current: tf.Tensor, state: State, t: tf.Tensor, clamped: tf.Tensor | None):
        m = t - self.start  # step of the inputs' window
        k = m - self.lag  # step of the own window
        b = tf.constant(self.bias)
        on = tf.cast(tf.logical_and(m >= 0, m < self.window), tf.float32)
        i = state["i"] + (current - b) * on
        v = state["v"] + i * on
        known = self._known({"i": i, "v": v}, tf.minimum(m, self.window - 1))
        rest = tf.cast(tf.maximum(self.window - 1 - m, 0), tf.float32) / self.window
        lower = known - tf.constant(self.inhibition) * rest / self.theta
        kf = tf.cast(k, tf.float32)
        threshold = np.float32(1.0 - 0.5 / self.window) - kf / self.window
        in_window = tf.logical_and(k >= 0, k < self.window)
        fire = tf.logical_and(tf.logical_and(in_window, lower >= threshold), state["fired"] < 0.5)
        s = tf.cast(fire, tf.float32)
        return s, {"i": i, "v": v, "fired": state["fired"] + s, "v_known": known}


class TTFSCorrectiveNeurons(TTFSDynThreshNeurons):
    """``ttfs_corrective`` neurons: a first spike from the current estimate, then signed
    spikes that correct it.

    Windows and integration as :class:`TTFSDynThreshNeurons` (windows of ``P = 2 L``
    steps, ``L`` apart), and a spike of sign ``s`` at window step ``k`` still stands
    for ``s (P - k) / P``, so a consumer integrates corrections like any other spike.
    The neuron's target is its current estimate ``clip(a, 0, 1)`` of its value (the fired
    inputs' contribution plus the bias, no threshold raising); ``S`` is the value its
    spikes have sent so far. At window step ``k`` it fires a spike of sign
    ``sign(target - S)`` when ``|target - S| + k / P`` reaches ``1 - 1 / (2P)``: the
    first spike (``S = 0``) is ``ttfs``'s, a guess from the inputs seen so far; later
    spikes appear only when the estimate moved away from what was sent (inputs arriving
    after the first spike), and each brings ``S`` to within half a level of the target,
    or closer to it (several spikes when the change comes late in the window). Once the
    inputs' window closes (own step ``L - 1``) the target is final, and ``S`` reaches it
    to within ``1 / (2P)`` provided the corrections fit in the window's remaining steps.
    """

    needs_inhibition = False

    def init_state(self, batch: tf.Tensor) -> State:
        z = _zeros(batch, self.shape)
        return {"i": z, "v": z, "sent": z, "v_known": z}

    def step(self, current: tf.Tensor, state: State, t: tf.Tensor, clamped: tf.Tensor | None):
        m = t - self.start
        k = m - self.lag
        b = tf.constant(self.bias)
        on = tf.cast(tf.logical_and(m >= 0, m < self.window), tf.float32)
        i = state["i"] + (current - b) * on
        v = state["v"] + i * on
        known = self._known({"i": i, "v": v}, tf.minimum(m, self.window - 1))
        residual = tf.clip_by_value(known, 0.0, 1.0) - state["sent"]
        kf = tf.cast(k, tf.float32)
        threshold = np.float32(1.0 - 0.5 / self.window) - kf / self.window
        in_window = tf.logical_and(k >= 0, k < self.window)
        fire = tf.logical_and(in_window, tf.abs(residual) >= threshold)
        s = tf.cast(fire, tf.float32) * tf.sign(residual)
        sent = state["sent"] + s * (self.window - kf) / self.window
        return s, {"i": i, "v": v, "sent": sent, "v_known": known}


INPUT_ENCODERS.update({"bits": BitsInput, "ttfs": TTFSInput})
NEURON_MODELS.update({"bits": BitNeurons, "ttfs": TTFSNeurons})
SOFTMAX_NEURONS.update({"bits": BitNeurons, "ttfs": TTFSNeurons})
INPUT_ENCODERS["ttfs_dyn_thresh"] = TTFSWindowInput
NEURON_MODELS["ttfs_dyn_thresh"] = TTFSDynThreshNeurons
SOFTMAX_NEURONS["ttfs_dyn_thresh"] = TTFSDynThreshNeurons
NEURON_MODELS["ttfs_corrective"] = TTFSCorrectiveNeurons
SOFTMAX_NEURONS["ttfs_corrective"] = TTFSCorrectiveNeurons
READOUTS.update({"potential": Potential, "first_spike": FirstSpike})
