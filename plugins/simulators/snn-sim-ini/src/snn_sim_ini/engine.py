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
  themselves (nearest upsampling of spikes is exact).

What depends only on a static input (analog input) is computed once before the loop,
e.g. the first layer's input current.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import tensorflow as tf

from snn_core.errors import CapabilityError, UnsupportedLayerError
from snn_core.interfaces import CodeSpec
from snn_core.network import (
    Add,
    Concatenate,
    Conv,
    ConvTranspose,
    Dense,
    GlobalAveragePool,
    InputLayer,
    Layer,
    Network,
    Pool,
    Reshape,
    UpSample,
    ZeroPad,
)
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

    @property
    def report_steps(self) -> np.ndarray:
        """1-based steps at which scores are reported."""
        steps = np.arange(self.record_every, self.num_steps + 1, self.record_every)
        if steps.size == 0 or steps[-1] != self.num_steps:
            steps = np.append(steps, self.num_steps)
        return steps


def fan_out(network: Network) -> dict[str, float]:
    """Synaptic operations caused by one spike of each layer (approximate for convs).

    A spike reaching a ``Dense`` layer costs its number of outputs; a ``Conv`` costs
    ``kernel elements x out_channels / groups / prod(strides)``; a ``ConvTranspose``
    ``kernel elements x out_channels``; a pool ``pool elements / prod(strides)``;
    ``GlobalAveragePool`` and ``Add`` one. Pass-through layers forward the cost of their
    consumers (``UpSample`` times its factor).
    """
    out: dict[str, float] = {}
    for layer in reversed(network.layers):
        total = 0.0
        for c in network.consumers(layer.name):
            if isinstance(c, Dense):
                total += c.weights.shape[1]
            elif isinstance(c, Conv):
                k = np.prod(c.kernel.shape[: c.rank])
                total += k * c.kernel.shape[-1] / c.groups / np.prod(c.strides)
            elif isinstance(c, ConvTranspose):
                total += np.prod(c.kernel.shape[:-2]) * c.kernel.shape[-1]
            elif isinstance(c, Pool):
                total += np.prod(c.pool_size) / np.prod(c.strides)
            elif isinstance(c, GlobalAveragePool | Add):
                total += 1.0
            elif isinstance(c, UpSample):
                total += np.prod(c.size) * out[c.name]
            elif isinstance(c, PASS_THROUGH):
                total += out[c.name]
        out[layer.name] = float(total)
    return out


# -- units: one per layer ------------------------------------------------------------------


class NeuronUnit:
    """A layer of neurons driven by the layer's linear op of the incoming spikes."""

    def __init__(self, layer: Layer, network: Network, neurons: Any, clamp: int) -> None:
        self.name = layer.name
        self.op = layer_op(layer, network)
        self.neurons = neurons
        self.clamp = clamp

    def init_state(self, batch: tf.Tensor) -> P.State:
        return self.neurons.init_state(batch)

    def step(self, inputs: list[tf.Tensor], current: tf.Tensor | None, state, t):
        if current is None:
            current = self.op(inputs)
        clamped = t < self.clamp if self.clamp > 0 else None
        return self.neurons.step(current, state, t, clamped)


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

    def init_state(self, batch: tf.Tensor) -> P.State:
        return {"score": P._zeros(batch, self.in_shape)}

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
        score = self.update(state["score"], spikes, t)
        win = tf.argmax(self._patches(score, -1e30), axis=3)
        onehot = tf.one_hot(win, self.size[0] * self.size[1], axis=3, dtype=tf.float32)
        out = tf.reduce_sum(self._patches(spikes, 0.0) * onehot, axis=3)
        if self.rank == 1:
            out = tf.squeeze(out, 1)
        return out, {"score": score}


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
        # autograph off: the loops are explicit, and converting the units' Python code
        # costs seconds of tracing
        self._fn = tf.function(self._simulate, autograph=False)

    def _add_unit(self, layer: Layer, spec: CodeSpec) -> None:
        name = layer.name
        all_static = bool(layer.inputs) and all(s in self.static for s in layer.inputs)
        if isinstance(layer, InputLayer):
            if self.encoder.static:
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
            self.units[name] = MaxPoolUnit(layer, self.network, self.settings)
            if all_static:
                self.static.add(name)
            return
        if not layer.spiking:
            raise UnsupportedLayerError(
                f"layer {name!r}: the ini simulator cannot run kind {layer.kind!r}"
            )
        shape = tuple(layer.shape)
        params = self.settings.neuron
        if layer.activation == "softmax":
            neurons = P.SOFTMAX_NEURONS[spec.neuron_model](shape, params)
        else:
            neurons = P.NEURON_MODELS[spec.neuron_model](shape, params)
        self.units[name] = NeuronUnit(
            layer, self.network, neurons, int(self.settings.clamp.get(name, 0))
        )

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
        """
        scores, ops, carry = self._fn(
            tf.constant(x, tf.float32),
            carry,
            tf.constant(reset, tf.bool),
            tf.constant(seed, tf.int64),
        )
        return scores.numpy(), ops.numpy(), carry

    def _simulate(self, x: tf.Tensor, carry: dict, reset: tf.Tensor, seed: tf.Tensor):
        batch = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
        fresh = self.init_carry(batch)

        def restart(old: tf.Tensor, new: tf.Tensor) -> tf.Tensor:
            mask = tf.reshape(reset, [-1] + [1] * (len(old.shape) - 1))
            return tf.where(mask, new, old)

        carry = tf.nest.map_structure(restart, carry, fresh)
        consts = self.encoder.prepare(x)
        static_vals, currents, static_ops = self._precompute(consts, batch)
        enc_state = self.encoder.init_state(x)
        readout = self.readout.init_state(batch)
        ops = tf.zeros([batch], tf.float32)

        s = self.settings
        n_reports = len(s.report_steps)
        every = s.record_every

        def advance(t, carry, enc_state, readout, ops):
            carry, enc_state, readout, ops = self._step(
                t,
                consts,
                static_vals,
                currents,
                static_ops,
                carry,
                enc_state,
                readout,
                ops,
                seed,
            )
            return t + 1, carry, enc_state, readout, ops

        def report(r, t, carry, enc_state, readout, ops, scores_ta, ops_ta):
            if every == 1:
                t, carry, enc_state, readout, ops = advance(t, carry, enc_state, readout, ops)
            else:
                stop = tf.minimum((r + 1) * every, s.num_steps)
                t, carry, enc_state, readout, ops = tf.while_loop(
                    lambda t, *_: t < stop, advance, (t, carry, enc_state, readout, ops)
                )
            scores_ta = scores_ta.write(r, self.readout.scores(readout))
            return r + 1, t, carry, enc_state, readout, ops, scores_ta, ops_ta.write(r, ops)

        zero = tf.constant(0, tf.int32)
        loop = (
            zero,
            zero,
            carry,
            enc_state,
            readout,
            ops,
            tf.TensorArray(tf.float32, size=n_reports),
            tf.TensorArray(tf.float32, size=n_reports),
        )
        *_, carry, _, _, _, scores_ta, ops_ta = tf.while_loop(
            lambda r, *_: r < n_reports, report, loop
        )
        scores = tf.transpose(scores_ta.stack(), [1, 0, 2])
        return scores, tf.transpose(ops_ta.stack()), carry

    def _precompute(self, consts: P.State, batch: tf.Tensor):
        """Values, input currents and operation counts that do not change over time."""
        values: dict[str, tf.Tensor] = {}
        currents: dict[str, tf.Tensor] = {}
        ops = tf.zeros([batch], tf.float32)
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
            if name in self.static and self.settings.count_ops and self.fan_out[name]:
                if not isinstance(self.units.get(name), PassUnit):
                    v = values[name]
                    nz = tf.math.count_nonzero(v, axis=list(range(1, len(v.shape))))
                    ops += tf.cast(nz, tf.float32) * self.fan_out[name]
        return values, currents, ops

    def _step(
        self, t, consts, static_vals, currents, static_ops, carry, enc_state, readout, ops, seed
    ):
        values = dict(static_vals)
        new_carry = {}
        binary_out = None
        out_current = None
        input_name = self.network.input.name
        if input_name not in self.static:
            values[input_name], enc_state = self.encoder.step(consts, enc_state, t, seed)
            ops += self._count(values[input_name], input_name, absolute=True)
        ops += static_ops
        for name, unit in self.units.items():
            if name in self.static:
                continue
            layer = self.network[name]
            ins = [values[i] for i in layer.inputs]
            if isinstance(unit, PassUnit):
                values[name] = unit.op(ins)
                continue
            current = currents.get(name)
            if name == self.out_name and isinstance(unit, NeuronUnit) and current is None:
                current = unit.op(ins)
            if name == self.out_name:
                out_current = current
            out, new_carry[name] = unit.step(ins, current, carry[name], t)
            if isinstance(unit, NeuronUnit):
                ops += self._count(out, name)
                if name == self.out_name:
                    binary_out = out
                if self.amp != 1.0:
                    out = out * self.amp
            else:
                ops += self._count(out, name, scale=1.0 / self.amp)
            values[name] = out
        if isinstance(self.units[self.out_name], NeuronUnit):
            spikes = binary_out
        else:
            spikes = values[self.out_name] * np.float32(1.0 / self.amp)
        if out_current is None:  # an output without neurons: its value is its input
            out_current = spikes
        readout = self.readout.step(spikes, out_current, readout)
        return new_carry, enc_state, readout, ops

    def _count(self, spikes: tf.Tensor, name: str, absolute: bool = False, scale: float = 1.0):
        if not self.settings.count_ops or not self.fan_out[name]:
            return tf.constant(0.0)
        if absolute:
            spikes = tf.abs(spikes)
        axes = list(range(1, len(spikes.shape)))
        return tf.reduce_sum(spikes, axis=axes) * np.float32(self.fan_out[name] * scale)
