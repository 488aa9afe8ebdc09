"""The spiking network as one TensorFlow graph: every time step of a batch in one loop.

:class:`Engine` turns a network IR and the primitives of a code into units, one per
layer, and :meth:`Engine.simulate` runs all ``num_steps`` steps of a batch inside a single
``tf.function`` (a ``tf.while_loop`` with ``TensorArray`` outputs), traced once per batch
shape and reused.

Layers become:

* the input layer: the code's input encoder;
* neuron layers (``Dense``, ``Conv``, ``ConvTranspose``, average ``Pool``,
  ``GlobalAveragePool``, ``Add``): the layer's linear op applied to the incoming spikes
  (spikes carry the amplitude ``v_thresh``), the bias added every step, driving the
  code's neurons (:class:`~snn_sim_ini.primitives.SpikingSoftmax` for a softmax
  activation);
* max ``Pool``: a spiking max pool that passes, for each window, the spikes of the input
  with the highest score (:data:`~snn_sim_ini.primitives.MAXPOOL_SCORES`; the first one
  in row-major window order on ties);
* ``Reshape``, ``ZeroPad``, ``Concatenate``, ``UpSample``: the op applied to the spikes
  themselves (nearest upsampling of spikes is exact);
* average pools without an activation (``Pool``, ``GlobalAveragePool``) behind neurons
  whose spike trains carry values linearly (the rate code's IF neurons, attribute
  ``linear_spikes``): the average of the incoming spikes, passed on as graded spikes
  (as SpikingJelly and sinabs do), exact and without a layer of neurons (unless
  ``average_spikes`` is off: then they are neuron layers like the others).

What depends only on a static input (analog input) is computed once before the loop,
e.g. the first layer's input current.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import tensorflow as tf

from snn_core.errors import CapabilityError, ConfigError, UnsupportedLayerError
from snn_core.interfaces import CodeSpec
from snn_core.network import (
    Concatenate,
    GlobalAveragePool,
    InputLayer,
    Layer,
    Network,
    Pool,
    Reshape,
    UpSample,
    ZeroPad,
)
from snn_core.operations import fan_out_maps
from snn_sim_ini import primitives as P
from snn_sim_ini.ops import layer_op

#: Layers whose op moves spikes without neurons.
PASS_THROUGH = (Reshape, ZeroPad, Concatenate, UpSample)


@attrs.frozen
class EngineSettings:
    """Everything the engine needs, as numbers."""

    num_steps: int
    dt: float
    neuron: P.NeuronParams
    record_every: int = 1
    maxpool_type: str = "fir_max"
    maxpool_window: float = 10.0
    #: Layer name -> number of initial steps its membrane is held at ``v_rest``.
    clamp: Mapping[str, int] = attrs.field(factory=dict)
    count_ops: bool = True
    #: Stop a batch once every lane's readout has settled (see :meth:`Engine.simulate`).
    early_stopping: bool = False
    #: IF neurons send their membrane potential with each spike (``[simulator] payloads``).
    payloads: bool = False
    #: ``(diff_to_max_rate, diff_to_min_rate, timestep_fraction)`` of the online
    #: normalization of IF neurons' thresholds, or None (``[simulator]`` keys).
    online_normalization: tuple[float, float, int] | None = None
    #: Scale each layer's bias up over time (``[simulator] bias_relaxation``).
    bias_relaxation: bool = False
    #: Every sample starts from a fresh network (nothing carries over between samples).
    fresh_samples: bool = True
    #: Average pools pass the mean of rate-coded spikes on (``[simulator] average_pool``).
    average_spikes: bool = True
    #: The lanes of a batch run in this many independent groups (one chain of ops each,
    #: which TensorFlow's inter-op threads run side by side; see :meth:`Engine.lane_groups`).
    groups: int = 1

    @property
    def report_steps(self) -> np.ndarray:
        """1-based steps at which scores are reported."""
        steps = np.arange(self.record_every, self.num_steps + 1, self.record_every)
        if steps.size == 0 or steps[-1] != self.num_steps:
            steps = np.append(steps, self.num_steps)
        return steps


def fan_out(network: Network) -> dict[str, np.ndarray]:
    """Synaptic operations one spike of each element of each layer causes (exact for
    strided and padded convolutions; see :func:`snn_core.operations.fan_out_maps`)."""
    return fan_out_maps(network)


def depths(network: Network) -> dict[str, int]:
    """Layers of neurons between the input and each layer (the input is 0; pass-through
    layers and max pools share the depth of their deepest input)."""
    out: dict[str, int] = {}
    for layer in network:
        d = max((out[i] for i in layer.inputs), default=0)
        out[layer.name] = d + 1 if has_neurons(layer) else d
    return out


def has_neurons(layer: Layer) -> bool:
    """Whether the engine gives ``layer`` neurons (not input, pass-through or max pool)."""
    if isinstance(layer, (InputLayer, *PASS_THROUGH)):
        return False
    return layer.spiking and not (isinstance(layer, Pool) and layer.mode == "max")


def last_fire_phases(network: Network, depth: Mapping[str, int]) -> dict[str, int]:
    """The last phase in which each layer's output is still integrated by a consumer
    (through pass-through layers and max pools); the output layer's is its own depth."""
    out: dict[str, int] = {}
    for layer in reversed(network.layers):
        last = depth[layer.name]
        for c in network.consumers(layer.name):
            last = max(last, depth[c.name] - 1 if has_neurons(c) else out[c.name])
        out[layer.name] = last
    return out


# -- units: one per layer ------------------------------------------------------------------


def relaxed_bias_factor(t: tf.Tensor, num_steps: int, index: int) -> tf.Tensor:
    """Fraction of its bias a layer gets at step ``t`` (0-based) under bias relaxation.

    The SNN Toolbox's rule (its INI simulator's ``update_b``; its settings text documents
    none): ``clip(1 - (1 - 2 time / duration) * index / 50, 0, 1)`` with ``time`` the
    simulated time at the end of the step and ``index`` the layer's position in the
    network; deeper layers start with less of their bias, and every layer has all of it
    from half the duration on.
    """
    frac = tf.cast(t + 1, tf.float32) / np.float32(num_steps)
    return tf.clip_by_value(1.0 - (1.0 - 2.0 * frac) * np.float32(index / 50), 0.0, 1.0)


class NeuronUnit:
    """A layer of neurons driven by the layer's linear op of the incoming spikes.

    With ``relax = (index, num_steps)`` (``[simulator] bias_relaxation``) the layer's bias
    is scaled by :func:`relaxed_bias_factor` at every step.
    """

    def __init__(
        self,
        layer: Layer,
        network: Network,
        neurons: Any,
        clamp: int,
        relax: tuple[int, int] | None = None,
    ) -> None:
        self.name = layer.name
        self.op = layer_op(layer, network)
        self.neurons = neurons
        #: Neurons simulated (fewer than the layer's where the engine prunes some).
        self.num_neurons = layer.num_neurons
        self.clamp = clamp
        bias = getattr(layer, "bias", None)
        self.relax = relax if bias is not None and np.any(bias) else None
        self.bias = None if self.relax is None else tf.constant(np.asarray(bias, np.float32))

    def init_state(self, batch: tf.Tensor) -> P.State:
        return self.neurons.init_state(batch)

    def relaxed(self, current: tf.Tensor, t: tf.Tensor) -> tf.Tensor:
        """The op's current (full bias) with the bias relaxed for step ``t``, if asked."""
        if self.relax is None:
            return current
        index, num_steps = self.relax
        return current + self.bias * (relaxed_bias_factor(t, num_steps, index) - 1.0)

    def step(self, inputs: list[tf.Tensor], current: tf.Tensor | None, state, t):
        if current is None:
            current = self.op(inputs)
        current = self.relaxed(current, t)
        clamped = t < self.clamp if self.clamp > 0 else None
        return self.neurons.step(current, state, t, clamped)


#: Suffix of the ``values`` key under which a layer's input current is kept for a max pool.
CURRENT = "/current"
#: Suffix of the ``values`` key of a max pool's constant winner mask.
WINNERS = "/winners"


class MaxPoolUnit:
    """Spiking max pooling: each window passes the spikes of its best-scored input."""

    def __init__(self, layer: Pool, network: Network, settings: EngineSettings) -> None:
        self.name = layer.name
        self.in_shape = tuple(network[layer.inputs[0]].shape)
        self.rank = len(layer.pool_size)
        if self.rank not in (1, 2):
            raise UnsupportedLayerError(
                f"layer {layer.name!r}: max pooling over {self.rank} axes is not supported"
            )

        def two(v, fill):
            return list(v) if self.rank == 2 else [fill, *v]

        self.size = two(layer.pool_size, 1)
        self.strides = two(layer.strides, 1)
        pads = [list(p) for p in layer.padding]
        self.pads = [[0, 0], *(pads if self.rank == 2 else [[0, 0], *pads]), [0, 0]]
        self.padded = any(a or b for a, b in self.pads)
        self.update = P.MAXPOOL_SCORES[settings.maxpool_type](settings.maxpool_window, settings.dt)
        self.analog = layer_op(layer, network)
        out_shape = tuple(layer.shape)
        self.out_spatial = out_shape[:-1] if self.rank == 2 else (1, *out_shape[:-1])
        # Fast path for the common case (fir_max, 2-D, non-overlapping, unpadded windows):
        # pooling ops instead of patch extraction. fir_max scores are multiples of the
        # spike amplitude, so a tie-breaker below a quarter of it keeps the row-major
        # first input of a tied window the winner, exactly as the general path does.
        self.by_current = False  # set by the engine for membrane_max
        #: Set by the engine when the ranking never changes (see :meth:`static_winners`).
        self.static_rank = False
        #: Set by the engine when only the winners of the input layer are simulated.
        self.pruned = False
        self.fast = (
            settings.maxpool_type in ("fir_max", "membrane_max")
            and self.rank == 2
            and not self.padded
            and self.strides == self.size
            and not settings.payloads
        )
        if self.fast:
            ph, pw = self.size
            rows, cols = (self.in_shape[0] // ph) * ph, (self.in_shape[1] // pw) * pw
            k = (np.arange(rows)[:, None] % ph) * pw + (np.arange(cols)[None, :] % pw)
            scale = 0.25 if settings.maxpool_type == "fir_max" else 1e-6
            eps = scale * settings.neuron.v_thresh / (ph * pw)
            self.crop = (rows, cols)
            #: Whether the last row or column lies in no window (odd sizes).
            self.cropped = (rows, cols) != tuple(self.in_shape[:2])
            # the score starts at the tie-breaker (zero outside the windows)
            start = np.zeros((*self.in_shape[:2], 1), np.float32)
            start[:rows, :cols] = -eps * k[..., None]
            self.start = tf.constant(start)

    def init_state(self, batch: tf.Tensor) -> P.State:
        if self.static_rank:
            return {}
        if self.fast:
            return {"score": P._zeros(batch, self.in_shape) + self.start}
        return {"score": P._zeros(batch, self.in_shape)}

    def static_winners(self, current: tf.Tensor) -> tf.Tensor:
        """The winner mask (1 for each window's winner) of a window ranked by a constant
        input current: accumulated over any number of steps it ranks the inputs the
        same way, so the mask is computed once per batch (``membrane_max`` behind a layer
        whose input is static)."""
        return tf.cast(self._winners(self._crop(current + self.start)), tf.float32)

    def pool_current(self, current: tf.Tensor) -> tf.Tensor:
        """Each window's largest input current (the winner's, under a constant current)."""
        return tf.nn.max_pool2d(current, self.size, self.size, "VALID")

    def _crop(self, x: tf.Tensor) -> tf.Tensor:
        """``x`` without the rows and columns no window covers."""
        if not self.cropped:
            return x
        rows, cols = self.crop
        return x[:, :rows, :cols, :]

    def _winners(self, ranked: tf.Tensor) -> tf.Tensor:
        """Where ``ranked`` (cropped, tie-breaker included) holds its window's maximum."""
        ph, pw = self.size
        best = tf.nn.max_pool2d(ranked, self.size, self.size, "VALID")
        return ranked >= tf.repeat(tf.repeat(best, ph, axis=1), pw, axis=2)

    def _fast_step(self, spikes: tf.Tensor, score: tf.Tensor) -> tf.Tensor:
        # (the score started at the tie-breaker: see __init__.) Spikes are non-negative,
        # so the max over the winners passes the winner's spike; inputs still tied (equal
        # currents) have equal spike trains, and none is counted twice.
        winners = self._winners(self._crop(score))
        passed = tf.where(winners, self._crop(spikes), np.float32(0))
        return tf.nn.max_pool2d(passed, self.size, self.size, "VALID")

    def _patches(self, x: tf.Tensor, fill: float) -> tf.Tensor:
        if self.rank == 1:
            x = tf.expand_dims(x, 1)
        if self.padded:
            x = tf.pad(x, self.pads, constant_values=fill)
        c = x.shape[-1]
        p = tf.image.extract_patches(
            x, [1, *self.size, 1], [1, *self.strides, 1], [1, 1, 1, 1], "VALID"
        )
        shape = tf.shape(p)
        return tf.reshape(p, [shape[0], shape[1], shape[2], self.size[0] * self.size[1], c])

    def step(self, inputs: list[tf.Tensor], current: tf.Tensor | None, state, t):
        spikes = inputs[0]
        if self.pruned:  # the input layer is already the winners' spikes
            return spikes, {}
        if self.static_rank:
            passed = self._crop(spikes) * inputs[1]
            return tf.nn.max_pool2d(passed, self.size, self.size, "VALID"), {}
        score = self.update(state["score"], inputs[1] if self.by_current else spikes, t)
        if self.fast:
            return self._fast_step(spikes, score), {"score": score}
        win = tf.argmax(self._patches(score, -1e30), axis=3)
        onehot = tf.one_hot(win, self.size[0] * self.size[1], axis=3, dtype=tf.float32)
        out = tf.reduce_sum(self._patches(spikes, 0.0) * onehot, axis=3)
        if self.rank == 1:
            out = tf.squeeze(out, 1)
        return out, {"score": score}


class BitMaxPoolUnit(MaxPoolUnit):
    """Max pooling of bit patterns sent most significant bit first (``temporal_pattern``).

    Each window keeps the set of inputs still tied for the maximum; a step's output bit is
    the OR of their bits, and inputs without that bit leave the set. The output is the
    bit pattern of the window's maximum, exactly. The set is refilled at each phase start.
    """

    def __init__(self, layer: Pool, network: Network, settings: EngineSettings, steps: int):
        super().__init__(layer, network, settings)
        self.steps = steps

    def init_state(self, batch: tf.Tensor) -> P.State:
        shape = (*self.out_spatial, self.size[0] * self.size[1], self.in_shape[-1])
        return {"cand": P._zeros(batch, shape, 1.0)}

    def step(self, inputs: list[tf.Tensor], current: tf.Tensor | None, state, t):
        spikes = inputs[0]
        start = tf.equal(t % self.steps, 0)
        cand = tf.where(start, tf.ones_like(state["cand"]), state["cand"])
        patches = self._patches(spikes, 0.0)
        bits = tf.cast(patches > 0, tf.float32) * cand
        out_bit = tf.reduce_max(bits, axis=3)
        cand = tf.where(out_bit[:, :, :, None, :] > 0, bits, cand)
        out = tf.reduce_max(patches * cand, axis=3) * out_bit
        if self.rank == 1:
            out = tf.squeeze(out, 1)
        return out, {"cand": cand}


class FirstSpikeMaxPoolUnit(MaxPoolUnit):
    """Max pooling of time-to-first-spike values: each window passes its first spike of a
    phase (the earliest spike is the largest value) and nothing else in that phase."""

    def __init__(self, layer: Pool, network: Network, settings: EngineSettings, steps: int):
        super().__init__(layer, network, settings)
        self.steps = steps

    def init_state(self, batch: tf.Tensor) -> P.State:
        return {"passed": P._zeros(batch, (*self.out_spatial, self.in_shape[-1]))}

    def step(self, inputs: list[tf.Tensor], current: tf.Tensor | None, state, t):
        start = tf.equal(t % self.steps, 0)
        passed = tf.where(start, tf.zeros_like(state["passed"]), state["passed"])
        window = tf.reduce_max(self._patches(inputs[0], 0.0), axis=3)
        out = window * (1.0 - passed)
        passed = tf.maximum(passed, tf.cast(out > 0, tf.float32))
        if self.rank == 1:
            out = tf.squeeze(out, 1)
        return out, {"passed": passed}


class OnceMaxPoolUnit(FirstSpikeMaxPoolUnit):
    """Max pooling of single-spike values (``ttfs_dyn_thresh``): each window passes its
    first spike of the sample and nothing else."""

    def __init__(self, layer: Pool, network: Network, settings: EngineSettings, steps: int):
        super().__init__(layer, network, settings, settings.num_steps + 1)


class NoMaxPoolUnit:
    """Refuses max pooling (``ttfs_corrective``: the maximum of values sent as a first
    guess and signed corrections is not the maximum of the first spikes)."""

    def __init__(self, layer: Pool, network: Network, settings: EngineSettings, steps: int):
        raise UnsupportedLayerError(
            f"layer {layer.name!r} (max pooling): the 'ttfs_corrective' code cannot pool "
            "spikes that carry corrections; use average pooling, or the 'ttfs' or "
            "'ttfs_dyn_thresh' code"
        )


#: The max pooling each neuron model's spikes need (default: :class:`MaxPoolUnit`).
MAXPOOL_UNITS: dict[str, type] = {
    "bits": BitMaxPoolUnit,
    "ttfs": FirstSpikeMaxPoolUnit,
    "ttfs_dyn_thresh": OnceMaxPoolUnit,
    "ttfs_corrective": NoMaxPoolUnit,
}


class PassUnit:
    """A layer that moves spikes (reshape, padding, concatenation, upsampling)."""

    def __init__(self, layer: Layer, network: Network) -> None:
        self.name = layer.name
        self.op = layer_op(layer, network)


# -- the engine -----------------------------------------------------------------------------


class Engine:
    """A network compiled for the INI simulator.

    Parameters
    ----------
    network
        The converted network (after the core's convert-stage transforms).
    spec
        The spike code's spec; its primitives must be in the tables of
        :mod:`snn_sim_ini.primitives`.
    settings
        Numbers of the simulation and the cell.
    """

    def __init__(self, network: Network, spec: CodeSpec, settings: EngineSettings) -> None:
        self.network = network
        self.settings = settings
        self.amp = np.float32(settings.neuron.v_thresh)
        for table, key, what in (
            (P.INPUT_ENCODERS, spec.input_encoding, "input encoding"),
            (P.NEURON_MODELS, spec.neuron_model, "neuron model"),
            (P.READOUTS, spec.readout, "readout"),
        ):
            if key not in table:
                raise CapabilityError(
                    f"the ini simulator has no {what} {key!r}; it implements {sorted(table)}"
                )
        self.encoder = P.INPUT_ENCODERS[spec.input_encoding](spec.params, settings.dt)
        out_layer = network.output
        self.out_name = out_layer.name
        self.readout = P.READOUTS[spec.readout](out_layer.num_neurons)
        if hasattr(self.readout, "horizon"):
            self.readout.horizon = float(settings.num_steps)
        self.neuron_cls = P.NEURON_MODELS[spec.neuron_model]
        self.params = {
            **spec.params,
            "payloads": settings.payloads,
            "online_normalization": settings.online_normalization,
            "dt": settings.dt,
        }
        self.depth = depths(network)
        self.last_fire = last_fire_phases(network, self.depth)
        #: Steps per phase of a phased code (0: not phased), and the step from which the
        #: output layer's value is complete.
        self.phase_steps = 0
        self.settle_step = settings.num_steps
        if getattr(self.neuron_cls, "phased", False):
            self._plan_phases(spec)
        if hasattr(self.encoder, "bind"):
            self.encoder.bind(self._context(network.input))
        self.units: dict[str, Any] = {}
        self.static: set[str] = set()
        for layer in network:
            self._add_unit(layer, spec)
        if self.out_name in self.static:
            raise UnsupportedLayerError(
                f"output layer {self.out_name!r} depends on the input only through "
                "pass-through layers; the network has no spiking neurons to read"
            )
        self.fan_out = fan_out(network)
        # A max pool ranked by membrane ("membrane_max") reads its input layer's current.
        # Behind a constant current its ranking is fixed (MaxPoolUnit.static_winners), and
        # where the pool is that layer's only consumer the neurons that can never win a
        # window are pruned (see _prune).
        self.current_needed: set[str] = set()
        #: Layer -> the max pool whose winners are the only neurons simulated in it.
        self.pruned: dict[str, MaxPoolUnit] = {}
        for name, unit in self.units.items():
            if type(unit) is not MaxPoolUnit or settings.maxpool_type != "membrane_max":
                continue
            src = network[name].inputs[0]
            unit.by_current = isinstance(self.units.get(src), NeuronUnit)
            if not unit.by_current:
                continue
            if unit.fast and self._constant_current(src):
                unit.static_rank = True
                if self._prunable(src, name):
                    self._prune(src, unit, spec)
            else:
                self.current_needed.add(src)
        #: Layers whose spikes cost synaptic operations (input, neurons, max pools).
        self.count_layers: list[str] = []
        if settings.count_ops:
            self.count_layers = [
                lay.name
                for lay in network
                if self.fan_out[lay.name].any() and not isinstance(lay, PASS_THROUGH)
            ]
        self.count_index = {n: i for i, n in enumerate(self.count_layers)}
        self.fan_out_flat = {
            n: tf.constant(self.fan_out[n].reshape(-1), tf.float32) for n in self.count_layers
        }
        #: Layers whose output is 0 or the spike amplitude (counted by one product).
        self.binary: set[str] = set()
        for name, unit in self.units.items():
            if isinstance(unit, NeuronUnit) and getattr(unit.neurons, "binary_spikes", False):
                self.binary.add(name)
            elif type(unit) is MaxPoolUnit and network[name].inputs[0] in self.binary:
                self.binary.add(name)
        self.events_per_unit = {
            n: tf.constant(self.fan_out[n].reshape(-1) / self.amp, tf.float32)
            for n in self.count_layers
            if n in self.binary
        }
        #: Layers whose output is never negative (binary ones, and their averages).
        self.nonneg = set(self.binary)
        for name, unit in self.units.items():
            if isinstance(unit, PassUnit) and all(i in self.nonneg for i in network[name].inputs):
                self.nonneg.add(name)
        #: Binary layer -> (average pool, factor): the layer's spikes, each entering one
        #: window of the pool, are counted as factor x the sum of the pool's output.
        self.count_via_pool: dict[str, tuple[str, float]] = {}
        for name, unit in self.units.items():
            layer = network[name]
            src = layer.inputs[0] if layer.inputs else None
            if (
                isinstance(unit, PassUnit)
                and isinstance(layer, Pool)
                and src in self.binary
                and src in self.count_index
                and [c.name for c in network.consumers(src)] == [name]
                and self._enters_one_window(src, layer)
            ):
                self.count_via_pool[src] = (name, float(np.prod(layer.pool_size)) / self.amp)
        self.last_stats: dict[str, Any] = {}
        # autograph off: the loops are explicit, and converting the units' Python code
        # costs seconds of tracing
        self._fn = tf.function(self._simulate, autograph=False)

    def _constant_current(self, name: str) -> bool:
        """Whether layer ``name``'s input current is the same at every step of a sample
        (a neuron layer on static inputs, without bias relaxation, with nothing carried
        over from the previous sample)."""
        unit = self.units.get(name)
        return (
            isinstance(unit, NeuronUnit)
            and unit.relax is None
            and self.settings.fresh_samples
            and all(i in self.static for i in self.network[name].inputs)
        )

    def _prunable(self, name: str, pool: str) -> bool:
        """Whether the neurons of layer ``name`` that lose their window of max pool
        ``pool`` for good can be left out: the pool is the layer's only consumer, the
        layer is not the output and its neurons evolve independently of each other."""
        return (
            [c.name for c in self.network.consumers(name)] == [pool]
            and name != self.out_name
            and self.network[name].activation != "softmax"
            and not self.phase_steps
            and self.settings.online_normalization is None
            and getattr(self.neuron_cls, "independent", False)
        )

    def _prune(self, name: str, pool: MaxPoolUnit, spec: CodeSpec) -> None:
        """Simulate only the window winners of layer ``name`` (pooled by ``pool``).

        With a constant input current every neuron's spike train is fixed by that current,
        and the window winner is the neuron with the largest one (ties: equal currents,
        equal spike trains). The pool's output is therefore the spike train of one neuron
        driven by the window's largest current: the layer is simulated on the pooled
        current, the pool passes its spikes on, and the losers (which could never send a
        spike past the pool) cost neither neuron updates nor synaptic operations.
        """
        unit = self.units[name]
        shape = tuple(self.network[pool.name].shape)
        unit.neurons = self._neurons(self.network[name], spec, shape)
        unit.num_neurons = int(np.prod(shape))
        pool.pruned = True
        self.pruned[name] = pool
        rows, cols = pool.crop
        (ph, pw), c = pool.size, shape[-1]
        windows = self.fan_out[name][:rows, :cols].reshape(rows // ph, ph, cols // pw, pw, c)
        self.fan_out[name] = windows.max(axis=(1, 3))

    def _plan_phases(self, spec: CodeSpec) -> None:
        depth = self.depth[self.out_name]
        steps = int(self.neuron_cls.phase_steps(spec.params, self.settings.num_steps, depth))
        # phases until the output layer's value is complete (its depth, unless the neuron
        # model overlaps layers and says otherwise)
        phases = int(getattr(self.neuron_cls, "value_phases", lambda d: d)(depth))
        needed = phases * steps
        if steps < 1 or self.settings.num_steps < needed:
            raise ConfigError(
                f"[simulation] duration: the {spec.neuron_model!r} neurons work layer by layer "
                f"in phases of {max(steps, 1)} steps, and the output layer "
                f"{self.out_name!r} is {depth} layers of neurons deep, so a sample needs at "
                f"least {phases * max(steps, 1)} steps (duration >= "
                f"{phases * max(steps, 1) * self.settings.dt:g} ms at dt = "
                f"{self.settings.dt:g}); found {self.settings.num_steps} steps"
            )
        self.phase_steps = steps
        self.settle_step = needed
        if hasattr(self.readout, "settled"):  # wait for the output layer's own spikes
            self.settle_step = min(self.settings.num_steps, (phases + 1) * steps)

    def _context(self, layer: Layer) -> P.NeuronContext:
        d = self.depth[layer.name]
        return P.NeuronContext(
            name=layer.name,
            bias=getattr(layer, "bias", None),
            phase_steps=self.phase_steps,
            integrate_phase=d - 1,
            fire_first=d,
            fire_last=self.last_fire[layer.name],
            params=self.params,
            inhibition=(
                P.max_inhibition(layer)
                if getattr(self.neuron_cls, "needs_inhibition", False) and layer.spiking
                else None
            ),
        )

    def _add_unit(self, layer: Layer, spec: CodeSpec) -> None:
        name = layer.name
        all_static = bool(layer.inputs) and all(s in self.static for s in layer.inputs)
        if isinstance(layer, InputLayer):
            if self.encoder.static:
                self.static.add(name)
            return
        if self._averages_spikes(layer):
            self.units[name] = PassUnit(layer, self.network)
            if all_static:
                self.static.add(name)
            return
        if isinstance(layer, PASS_THROUGH):
            if layer.activation == "softmax":
                raise UnsupportedLayerError(
                    f"layer {name!r} ({layer.kind}) has a softmax activation; the ini "
                    "simulator supports softmax only on layers with neurons"
                )
            self.units[name] = PassUnit(layer, self.network)
            if all_static:
                self.static.add(name)
            return
        if isinstance(layer, Pool) and layer.mode == "max":
            pool_cls = MAXPOOL_UNITS.get(spec.neuron_model) if self.phase_steps else None
            if pool_cls is None:
                self.units[name] = MaxPoolUnit(layer, self.network, self.settings)
            else:
                self.units[name] = pool_cls(layer, self.network, self.settings, self.phase_steps)
            if all_static:
                self.static.add(name)
            return
        if not layer.spiking:
            raise UnsupportedLayerError(
                f"layer {name!r}: the ini simulator cannot run kind {layer.kind!r}"
            )
        neurons = self._neurons(layer, spec, tuple(layer.shape))
        relax = None
        if self.settings.bias_relaxation:
            index = [lay.name for lay in self.network].index(name)
            relax = (index, self.settings.num_steps)
        self.units[name] = NeuronUnit(
            layer, self.network, neurons, int(self.settings.clamp.get(name, 0)), relax
        )

    def _enters_one_window(self, name: str, pool: Pool) -> bool:
        """Whether each element of layer ``name`` that pool ``pool`` covers costs exactly
        one operation (one window) and every other element none: then the layer's
        operations are the pool's input sum (non-overlapping windows without padding)."""
        if tuple(pool.strides) != tuple(pool.pool_size) or any(a or b for a, b in pool.padding):
            return False
        fan = self.fan_out[name]
        sizes = zip(fan.shape, pool.pool_size, strict=False)  # (the channels stay whole)
        covered = tuple(slice(0, (n // k) * k) for n, k in sizes)
        want = np.zeros_like(fan)
        want[covered] = 1.0
        return bool(np.array_equal(fan, want))

    def _averages_spikes(self, layer: Layer) -> bool:
        """Whether average pool ``layer`` passes on the mean of its input spikes instead of
        driving neurons: it has no activation, is not the output, and its input is a layer
        of neurons whose spikes carry values linearly (or a layer that passes those on)."""
        if not (
            (isinstance(layer, Pool) and layer.mode == "avg")
            or isinstance(layer, GlobalAveragePool)
        ):
            return False
        if not self.settings.average_spikes or self.phase_steps:
            return False
        if layer.activation != "linear" or layer.name == self.out_name:
            return False
        src = self.units.get(layer.inputs[0])
        linear = getattr(self.neuron_cls, "linear_spikes", False)
        return linear and isinstance(src, NeuronUnit | PassUnit | MaxPoolUnit)

    def _neurons(self, layer: Layer, spec: CodeSpec, shape: tuple[int, ...]) -> Any:
        """The code's neurons for ``layer`` (its softmax neurons for a softmax layer)."""
        table = P.SOFTMAX_NEURONS if layer.activation == "softmax" else P.NEURON_MODELS
        return table[spec.neuron_model](shape, self.settings.neuron, self._context(layer))

    # -- state ----------------------------------------------------------------------------
    def _stateful(self) -> list[str]:
        return [
            n for n, u in self.units.items() if n not in self.static and not isinstance(u, PassUnit)
        ]

    def init_carry(self, batch: int | tf.Tensor) -> dict[str, P.State]:
        """State that may carry over from one sample to the next (membranes, pool scores)."""
        batch = tf.constant(batch, tf.int32) if isinstance(batch, int) else batch
        return {n: self.units[n].init_state(batch) for n in self._stateful()}

    # -- simulation -------------------------------------------------------------------------
    def simulate(
        self,
        x: np.ndarray,
        carry: Mapping[str, P.State],
        reset: np.ndarray,
        seed: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray, dict[str, P.State]]:
        """Run all steps of one batch.

        Parameters
        ----------
        x
            ``(batch, *input_shape)`` float32.
        carry
            The state left by the previous batch (see :meth:`init_carry`).
        reset
            ``(batch,)`` bool: lanes whose carried state starts afresh.
        seed
            Two integers seeding the batch's random numbers.

        Returns
        -------
        scores, ops, carry
            ``(batch, reports, classes)`` readout at each reported step,
            ``(batch, reports)`` cumulative synaptic operations, and the final state.
            :attr:`last_stats` then holds the batch's other counts: ``neuron_ops``
            ``(batch, reports)`` cumulative neuron state updates, ``layer_ops``
            ``{layer: (batch,)}`` synaptic operations caused by each layer's spikes over
            the whole sample, and ``steps`` ``(batch,)`` the steps each lane needed until
            its readout settled (the duration where it never does).

        With ``early_stopping`` the batch stops once every lane has settled: phased
        codes once the output layer's value is complete (or, for a first-spike readout,
        once an output neuron has fired); a code whose readout never settles (the rate
        code) runs the whole duration. Reports after the stop repeat the last one.
        """
        scores, ops, neuron_ops, layer_ops, steps, carry = self._fn(
            tf.constant(x, tf.float32),
            carry,
            tf.constant(reset, tf.bool),
            tf.constant(seed, tf.int64),
        )
        self.last_stats = {
            "neuron_ops": neuron_ops.numpy(),
            "layer_ops": dict(zip(self.count_layers, layer_ops.numpy().T, strict=False)),
            "steps": steps.numpy(),
        }
        return scores.numpy(), ops.numpy(), carry

    def _settled(self, t: tf.Tensor, readout: P.State, batch, input_end=None) -> tf.Tensor:
        done = tf.fill(tf.reshape(batch, [1]), t >= self.settle_step)
        if hasattr(self.readout, "settled"):
            done = tf.logical_or(done, self.readout.settled(readout))
        if input_end is not None:  # the input ran out (a temporal data set's last frame)
            done = tf.logical_or(done, t >= input_end)
        return done

    def lane_groups(self, batch: int | tf.Tensor) -> list[slice]:
        """The lanes of each group (``settings.groups`` groups of nearly equal size, or
        one group where the batch size is unknown while tracing)."""
        if not isinstance(batch, int) or self.settings.groups <= 1 or batch < 2:
            return [slice(None)]
        edges = np.linspace(0, batch, min(self.settings.groups, batch) + 1).round()
        return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    def _simulate(self, x: tf.Tensor, carry: dict, reset: tf.Tensor, seed: tf.Tensor):
        batch = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
        fresh = self.init_carry(batch)

        def restart(old: tf.Tensor, new: tf.Tensor) -> tf.Tensor:
            mask = tf.reshape(reset, [-1] + [1] * (len(old.shape) - 1))
            return tf.where(mask, new, old)

        carry = tf.nest.map_structure(restart, carry, fresh)
        consts = self.encoder.prepare(x)
        # (the step at which a temporal input runs out, the same for every lane)
        input_end = self.encoder.input_end(consts) if hasattr(self.encoder, "input_end") else None
        static_vals, currents, static_ops = self._precompute(consts, batch)
        enc_state = self.encoder.init_state(x)
        # The lanes run in independent groups (see EngineSettings.groups): every per-lane
        # tensor is cut once here, each group's units step on their own lanes, and only
        # the input encoder (and its random numbers) works on the whole batch, so the
        # results do not depend on the number of groups.
        groups = self.lane_groups(batch)
        whole = len(groups) == 1

        def cut(tree: Any, lanes: slice) -> Any:
            if whole or tree is None:
                return tree
            return tf.nest.map_structure(lambda a: a[lanes], tree)

        def join(trees: list[Any]) -> Any:
            return trees[0] if whole else tf.nest.map_structure(lambda *a: tf.concat(a, 0), *trees)

        fixed = [(cut(static_vals, g), cut(currents, g), cut(static_ops, g)) for g in groups]
        carries = [cut(carry, g) for g in groups]
        readouts, counts = [], []
        for g in groups:
            size = batch if whole else g.stop - g.start
            readouts.append(self.readout.init_state(size))
            counts.append(
                {
                    "syn": tf.zeros([size], tf.float32),
                    "neu": tf.zeros([size], tf.float32),
                    "layer": tf.zeros([size, max(1, len(self.count_layers))], tf.float32),
                    "steps": tf.fill([size], np.int32(self.settings.num_steps)),
                }
            )

        s = self.settings
        n_reports = len(s.report_steps)
        every = s.record_every
        early = s.early_stopping
        input_name = self.network.input.name

        def advance_group(t, inp, fixed, carry, readout, counts):
            before = counts
            static_vals, currents, static_ops = fixed
            carry, readout, counts = self._step(
                t, inp, static_vals, currents, static_ops, carry, readout, counts
            )
            if early:  # a settled lane is done: its operations stop counting
                live = before["steps"] >= s.num_steps
                counts = {
                    "syn": tf.where(live, counts["syn"], before["syn"]),
                    "neu": tf.where(live, counts["neu"], before["neu"]),
                    "layer": tf.where(live[:, None], counts["layer"], before["layer"]),
                    "steps": counts["steps"],
                }
            settled = self._settled(t + 1, readout, tf.shape(before["syn"])[0], input_end)
            first = tf.logical_and(settled, counts["steps"] >= s.num_steps)
            counts = {**counts, "steps": tf.where(first, t + 1, counts["steps"])}
            return carry, readout, counts

        def advance(t, carries, enc_state, readouts, counts):
            inp = None
            if input_name not in self.static:
                inp, enc_state = self.encoder.step(consts, enc_state, t, seed)
            stepped = [
                advance_group(t, cut(inp, g), *args)
                for g, *args in zip(groups, fixed, carries, readouts, counts, strict=True)
            ]
            carries, readouts, counts = (list(x) for x in zip(*stepped, strict=True))
            return t + 1, carries, enc_state, readouts, counts

        def report(r, t, carries, enc_state, readouts, counts, tas):
            state = (t, carries, enc_state, readouts, counts)
            if every == 1:
                state = advance(*state)
            else:
                stop = tf.minimum((r + 1) * every, s.num_steps)
                state = tf.while_loop(lambda t, *_: t < stop, advance, state)
            t, carries, enc_state, readouts, counts = state
            tas = (
                tas[0].write(r, join([self.readout.scores(ro) for ro in readouts])),
                tas[1].write(r, join([c["syn"] for c in counts])),
                tas[2].write(r, join([c["neu"] for c in counts])),
            )
            return r + 1, t, carries, enc_state, readouts, counts, tas

        def all_settled(t, readouts, counts):
            return tf.reduce_all(
                join(
                    [
                        self._settled(t, ro, tf.shape(c["syn"])[0], input_end)
                        for ro, c in zip(readouts, counts, strict=True)
                    ]
                )
            )

        def going(r, t, carries, enc_state, readouts, counts, tas):
            if not early:
                return r < n_reports
            done = all_settled(t, readouts, counts)
            return tf.logical_and(r < n_reports, tf.logical_or(tf.equal(r, 0), ~done))

        zero = tf.constant(0, tf.int32)
        tas = tuple(tf.TensorArray(tf.float32, size=n_reports) for _ in range(3))
        loop = (zero, zero, carries, enc_state, readouts, counts, tas)
        r, _, carries, _, readouts, counts, tas = tf.while_loop(going, report, loop)
        scores_now = join([self.readout.scores(ro) for ro in readouts])
        count = join(counts)
        if early:
            last = (scores_now, count["syn"], count["neu"])

            def fill(r, tas):
                return r + 1, tuple(ta.write(r, v) for ta, v in zip(tas, last, strict=True))

            _, tas = tf.while_loop(lambda r, _: r < n_reports, fill, (r, tas))
        scores = tf.transpose(tas[0].stack(), [1, 0, 2])
        return (
            scores,
            tf.transpose(tas[1].stack()),
            tf.transpose(tas[2].stack()),
            count["layer"],
            count["steps"],
            join(carries),
        )

    def _precompute(self, consts: P.State, batch: tf.Tensor):
        """Values, input currents and operation counts (per layer) that do not change."""
        values: dict[str, tf.Tensor] = {}
        currents: dict[str, tf.Tensor] = {}
        ops: dict[str, tf.Tensor] = {}
        zero = tf.constant(0, tf.int32)
        input_name = self.network.input.name
        for name in [self.network.input.name, *self.units]:
            if name == input_name:
                if name in self.static:
                    values[name], _ = self.encoder.step(consts, {}, zero, tf.zeros([2], tf.int64))
            elif name in self.static:
                unit = self.units[name]
                layer = self.network[name]
                ins = [values[i] for i in layer.inputs]
                op = unit.analog if isinstance(unit, MaxPoolUnit) else unit.op
                values[name] = op(ins)
            elif isinstance(self.units[name], NeuronUnit):
                layer = self.network[name]
                if all(i in self.static for i in layer.inputs):
                    currents[name] = self.units[name].op([values[i] for i in layer.inputs])
                    if name in self.pruned:
                        currents[name] = self.pruned[name].pool_current(currents[name])
            elif getattr(self.units[name], "static_rank", False) and not self.units[name].pruned:
                src = self.network[name].inputs[0]
                values[name + WINNERS] = self.units[name].static_winners(currents[src])
            if name in self.static and name in self.count_index:
                ops[name] = self._count(values[name], name)
        return values, currents, ops

    def _step(self, t, inp, static_vals, currents, static_ops, carry, readout, counts):
        """One step of one group of lanes: ``inp`` is the input layer's output (None for a
        static input, which is among ``static_vals``)."""
        values = dict(static_vals)
        layer_ops = dict(static_ops)
        new_carry = {}
        binary_out = None
        out_current = None
        neuron_ops: Any = 0.0  # a Python number while every layer is active (fewer ops)
        input_name = self.network.input.name
        if input_name not in self.static:
            values[input_name] = inp
            if input_name in self.count_index:
                layer_ops[input_name] = self._count(values[input_name], input_name)
        for name, unit in self.units.items():
            if name in self.static:
                continue
            layer = self.network[name]
            ins = [values[i] for i in layer.inputs]
            if isinstance(unit, PassUnit):
                values[name] = unit.op(ins)
                if name in self.count_index:  # an average pool's graded spikes
                    layer_ops[name] = self._count(values[name], name)
                src = layer.inputs[0]
                pool, factor = self.count_via_pool.get(src, (None, 0.0))
                if pool == name:  # the input's spikes: the pool's mean times its size
                    axes = list(range(1, len(values[name].shape)))
                    layer_ops[src] = tf.reduce_sum(values[name], axis=axes) * factor
                continue
            if isinstance(unit, MaxPoolUnit) and unit.static_rank:
                if not unit.pruned:
                    ins = [*ins, values[name + WINNERS]]
            elif isinstance(unit, MaxPoolUnit) and unit.by_current:
                ins = [*ins, values[layer.inputs[0] + CURRENT]]
            current = currents.get(name)
            wanted = name == self.out_name or name in self.current_needed
            if wanted and isinstance(unit, NeuronUnit) and current is None:
                current = unit.op(ins)
            if name == self.out_name:
                out_current = unit.relaxed(current, t) if isinstance(unit, NeuronUnit) else current
            if name in self.current_needed:
                values[name + CURRENT] = unit.relaxed(current, t)
            out, new_carry[name] = unit.step(ins, current, carry[name], t)
            if isinstance(unit, NeuronUnit):
                active = unit.neurons.active(t)
                n = np.float32(unit.num_neurons)
                neuron_ops += n if active is True else n * tf.cast(active, tf.float32)
                if name == self.out_name:
                    binary_out = out
                if self.amp != 1.0:
                    out = out * self.amp
            if name in self.count_index and name not in self.count_via_pool:
                layer_ops[name] = self._count(out, name)
            values[name] = out
        out_unit = self.units[self.out_name]
        if isinstance(out_unit, NeuronUnit):
            spikes = binary_out
            neurons = (out_unit.neurons, new_carry[self.out_name])
        else:
            spikes = values[self.out_name] * np.float32(1.0 / self.amp)
            neurons = None
        if out_current is None:  # an output without neurons: its value is its input
            out_current = spikes
        readout = self.readout.step(spikes, out_current, readout, neurons)
        counts = dict(counts)
        if self.count_layers:
            zeros = tf.zeros_like(counts["syn"])
            per_layer = tf.stack([layer_ops.get(n, zeros) for n in self.count_layers], axis=1)
            counts["layer"] = counts["layer"] + per_layer
            counts["syn"] = counts["syn"] + tf.reduce_sum(per_layer, axis=1)
        counts["neu"] = counts["neu"] + neuron_ops
        return new_carry, readout, counts

    def _count(self, spikes: tf.Tensor, name: str) -> tf.Tensor:
        """Synaptic operations of one step's output of layer ``name``, per lane."""
        lanes = spikes.shape[0] if spikes.shape[0] is not None else tf.shape(spikes)[0]
        flat = tf.reshape(spikes, [lanes, -1])
        if name in self.events_per_unit:  # 0 or the amplitude: one matrix-vector product
            return tf.linalg.matvec(flat, self.events_per_unit[name])
        if name in self.nonneg:  # graded but never negative: its sign marks an event
            events = tf.sign(flat)
        else:
            events = tf.cast(tf.not_equal(flat, 0), tf.float32)
        return tf.linalg.matvec(events, self.fan_out_flat[name])
