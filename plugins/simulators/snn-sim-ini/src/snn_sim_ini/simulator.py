"""The ``ini`` simulator plugin class (TensorFlow is imported in :meth:`IniSimulator.prepare`).

Batches and state
-----------------
The samples of a batch run side by side in *lanes*. With ``reset_between_nth_sample = 1``
(the default) every sample starts from a fresh network. Otherwise a lane keeps the
membrane potentials and max-pool scores it had at the end of the previous batch, and is
reset at the start of sample ``i`` when ``i % n == 0`` (``n <= 0``: never, after the
first sample). With ``batch_size = 1`` this is the reference toolbox's behaviour on video
sequences (sample ``i`` continues from sample ``i - 1``); with larger batches lane ``b``
continues from the sample lane ``b`` ran in the previous batch. Spike counts, operation
counts, the Poisson event cap and the clamp start afresh with every sample.

A batch smaller than ``batch_size`` is padded with zeros so that the traced graph is
reused; the padded lanes are dropped from the output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import attrs
import numpy as np
from attrs import validators as v

from snn_core.errors import CapabilityError, ConfigError
from snn_core.interfaces import BatchOutput, Simulator
from snn_core.network import Network, layer_kinds

if TYPE_CHECKING:
    from snn_sim_ini.threads import ThreadPlan


@attrs.frozen
class IniOptions:
    """Options of the ``[simulator]`` table for ``name = "ini"``."""

    #: Spiking max pooling: the window passes the spikes of the input with the highest
    #: accumulated input current so far (``membrane_max``, the default: it ranks inputs by
    #: their estimated activation from the first step on), the highest spike count so far
    #: (``fir_max``, the SNN Toolbox's default), exponentially filtered spike train
    #: (``exp_max``) or moving-average rate (``avg_max``).
    maxpool_type: Literal["membrane_max", "fir_max", "exp_max", "avg_max"] = "membrane_max"
    #: Average pools (without activation) behind rate-coded IF neurons: pass the mean of
    #: the incoming spikes on as graded spikes (``spikes``: exact, faster, and more
    #: synaptic events, since a window sends whenever any input spiked), or drive a layer
    #: of IF neurons with it (``neurons``: the SNN Toolbox's; binary spikes, about a
    #: quarter of the events for 2 x 2 windows, what hardware without graded spikes
    #: needs). Other codes always use neurons.
    average_pool: Literal["spikes", "neurons"] = "spikes"
    #: Time constant (``exp_max``) or averaging horizon (``avg_max``) of the max-pool
    #: score, in ms.
    maxpool_window: float = attrs.field(default=10.0, validator=v.gt(0))
    #: Report the output scores every this many steps (and at the last step).
    record_every: int = attrs.field(default=1, validator=v.ge(1))
    #: Where TensorFlow runs the simulation; ``auto`` lets TensorFlow choose.
    device: Literal["auto", "cpu", "gpu"] = "auto"
    #: CPU cores to use (0: all this process may use). On CPU the lanes of a batch run
    #: in independent groups, one per core (at least 16 lanes each), every op on one
    #: thread (:mod:`snn_sim_ini.threads`); this sets TensorFlow's thread pools for the
    #: whole process when ``snn run`` starts. The results do not depend on it.
    threads: int = attrs.field(default=0, validator=v.ge(0))
    #: Count synaptic operations (spikes times fan-out) at every step.
    count_synaptic_ops: bool = True
    #: Each spike of an integrate-and-fire neuron carries the neuron's membrane potential
    #: (a float payload) and resets the membrane to ``v_reset``: the receiving layer gets
    #: the exact charge instead of threshold-sized quanta (the SNN Toolbox's ``payloads``).
    payloads: bool = False
    #: Bias relaxation (the SNN Toolbox's ``bias_relaxation``): a layer at position ``i``
    #: of the network gets ``clip(1 - (1 - 2 t / duration) * i / 50, 0, 1)`` of its bias at
    #: time ``t``, so deeper layers start with less bias and all have their full bias from
    #: half the duration on. The toolbox's text documents no behaviour; this is its code's.
    bias_relaxation: bool = False
    #: Online normalization (the SNN Toolbox's): every ``timestep_fraction``-th step, a
    #: layer of integrate-and-fire neurons whose highest firing rate so far is more than
    #: ``diff_to_max_rate`` Hz below the maximum rate ``1000 / dt`` and above
    #: ``diff_to_min_rate`` Hz gets its threshold lowered towards that rate,
    #: ``v_thresh * (0.01 + 0.99 * rate / (1000 / dt))`` (per sample; spikes still carry
    #: ``v_thresh``, so the layer's output is amplified by the inverse factor).
    online_normalization: bool = False
    #: Hz below the maximum rate a layer's highest rate must be for its threshold to drop.
    diff_to_max_rate: float = attrs.field(default=200.0, validator=v.ge(0))
    #: Hz a layer's highest rate must exceed for its threshold to drop.
    diff_to_min_rate: float = attrs.field(default=100.0, validator=v.ge(0))
    #: The online normalization acts every this many steps.
    timestep_fraction: int = attrs.field(default=10, validator=v.ge(1))


class IniSimulator(Simulator):
    """Built-in time-stepped simulator: integrate-and-fire networks in one TensorFlow graph."""

    name: ClassVar[str] = "ini"
    Options: ClassVar[type] = IniOptions
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {
            "input:analog",
            "input:poisson",
            "input:frames",
            "input:bits",
            "input:ttfs",
            "input:ttfs_dyn_thresh",
            "neuron:if",
            "neuron:bits",
            "neuron:ttfs",
            "neuron:ttfs_dyn_thresh",
            "neuron:ttfs_corrective",
            "readout:spike_count",
            "readout:membrane",
            "readout:potential",
            "readout:first_spike",
            "reset:subtract",
            "reset:zero",
            "reset:modulo",
            "cell:refractory",
            "cell:leak",
            "cell:v_init",
            "batch",
        }
    )
    layer_kinds: ClassVar[frozenset[str]] = frozenset(k for k in layer_kinds() if k != "Layer")

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._engine: Any = None
        self._carry: Any = None
        self._lanes = 0
        #: Lane groups of the prepared engine (see :mod:`snn_sim_ini.threads`).
        self.groups = 1

    def _on_gpu(self) -> bool:
        import tensorflow as tf

        device = self.options.device
        return device == "gpu" or (
            device == "auto" and bool(tf.config.list_physical_devices("GPU"))
        )

    def _thread_plan(self, simulation: Any) -> ThreadPlan:
        from snn_sim_ini import threads

        return threads.plan(self.options.threads, int(simulation.batch_size))

    def configure_process(self, simulation: Any) -> None:
        """Size TensorFlow's thread pools for lane groups on CPU (before TensorFlow starts;
        see :mod:`snn_sim_ini.threads`). Nothing changes on a GPU or for small batches."""
        from snn_sim_ini import threads

        if not self._on_gpu():
            threads.configure(self._thread_plan(simulation))

    def prepare(self, network: Network, code: Any, cell: Any, simulation: Any) -> None:
        """Compile ``network`` for ``code`` with the cell and simulation settings.

        Raises
        ------
        CapabilityError
            If the code needs a primitive this simulator lacks, or ``device = "gpu"``
            without a visible GPU.
        ConfigError
            If the ``clamp_indices`` file is missing or malformed.
        UnsupportedLayerError
            For a layer the simulator cannot run.
        """
        import tensorflow as tf

        from snn_sim_ini import threads
        from snn_sim_ini.engine import Engine, EngineSettings
        from snn_sim_ini.primitives import NeuronParams

        opts: IniOptions = self.options
        spec = code.spec()
        missing = spec.requires - self.capabilities
        if missing:
            raise CapabilityError(
                f"code {code.name!r} needs {sorted(missing)}, which the ini simulator lacks; "
                f"it offers {sorted(self.capabilities)}"
            )
        self._device = None
        if opts.device == "gpu":
            if not tf.config.list_physical_devices("GPU"):
                raise CapabilityError(
                    '[simulator] device = "gpu", but TensorFlow sees no GPU; use "auto" or "cpu"'
                )
            self._device = "/GPU:0"
        elif opts.device == "cpu":
            self._device = "/CPU:0"
        plan = self._thread_plan(simulation)
        # split the lanes where TensorFlow's pools were sized for it (configure_process)
        self.groups = plan.groups if not self._on_gpu() and threads.active(plan) else 1
        settings = EngineSettings(
            num_steps=simulation.num_steps,
            dt=float(simulation.dt),
            neuron=NeuronParams.from_cell(cell, float(simulation.dt)),
            record_every=opts.record_every,
            maxpool_type=opts.maxpool_type,
            maxpool_window=opts.maxpool_window,
            clamp=read_clamp_indices(simulation.clamp_indices, network),
            count_ops=opts.count_synaptic_ops,
            early_stopping=bool(simulation.early_stopping),
            payloads=opts.payloads,
            bias_relaxation=opts.bias_relaxation,
            fresh_samples=int(simulation.reset_between_nth_sample) == 1,
            average_spikes=opts.average_pool == "spikes",
            groups=self.groups,
            online_normalization=(
                (opts.diff_to_max_rate, opts.diff_to_min_rate, opts.timestep_fraction)
                if opts.online_normalization
                else None
            ),
        )
        self._simulation = simulation
        self._settings = settings
        with self._device_scope():
            self._engine = Engine(network, spec, settings)
        self._carry = None
        self._lanes = 0

    def runtime(self) -> dict[str, Any]:
        """Device, lane groups and TensorFlow's thread pools (0: TensorFlow's default)."""
        import tensorflow as tf

        threading = tf.config.threading
        return {
            "device": self._device or "auto",
            "lane_groups": self.groups,
            "intra_op_threads": threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": threading.get_inter_op_parallelism_threads(),
        }

    def _device_scope(self) -> Any:
        import contextlib

        import tensorflow as tf

        return tf.device(self._device) if self._device else contextlib.nullcontext()

    def run_batch(self, x: np.ndarray, sample_indices: np.ndarray) -> BatchOutput:
        """Simulate one batch; scores are the output spike counts at each reported step.

        Parameters
        ----------
        x
            ``(batch, *input_shape)`` float32 samples, or ``(batch, frames, *input_shape)``
            frame sequences for the ``frames`` input encoding.
        sample_indices
            Index of each sample in the test set (decides resets and random seeds).
        """
        if self._engine is None:
            raise RuntimeError("IniSimulator.run_batch called before prepare()")
        x = np.asarray(x, np.float32)
        idx = np.asarray(sample_indices, np.int64).reshape(-1)
        n = len(x)
        lanes = max(n, int(self._simulation.batch_size))
        if lanes != self._lanes or self._carry is None:
            with self._device_scope():
                self._carry = self._engine.init_carry(lanes)
            self._lanes = lanes
        if n < lanes:
            x = np.concatenate([x, np.zeros((lanes - n, *x.shape[1:]), np.float32)])
        every = int(self._simulation.reset_between_nth_sample)
        reset = np.ones(lanes, bool)
        if every != 1:
            reset[:n] = (idx % every == 0) if every > 0 else False
        seed = (int(self._simulation.seed), int(idx[0]) if n else 0)
        with self._device_scope():
            scores, ops, self._carry = self._engine.simulate(x, self._carry, reset, seed)
        steps = self._settings.report_steps
        stats = self._engine.last_stats
        return BatchOutput(
            scores=scores[:n],
            timesteps=steps.astype(np.float64) * self._settings.dt,
            synaptic_ops=ops[:n].mean(axis=0) if self._settings.count_ops and n else None,
            neuron_ops=stats["neuron_ops"][:n],
            steps_used=stats["steps"][:n],
            synaptic_ops_per_layer={k: v[:n] for k, v in stats["layer_ops"].items()},
        )

    def close(self) -> None:
        """Drop the compiled graph and the carried state."""
        self._engine = None
        self._carry = None


def read_clamp_indices(path: Path | None, network: Network) -> dict[str, int]:
    """Read a ``clamp_indices`` JSON file: ``{layer_index: steps}`` -> ``{layer name: steps}``.

    Layer indices count the layers of the network IR in order, the input layer being 0.

    Raises
    ------
    ConfigError
        Naming the file, the entry and what is valid.
    """
    if path is None:
        return {}
    path = Path(path)
    where = f"[simulation] clamp_indices: {path}"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object {{layer_index: steps}}, found {data!r}")
    layers = network.layers
    clamp: dict[str, int] = {}
    for key, steps in data.items():
        try:
            index = int(key)
        except ValueError:
            raise ConfigError(f"{where}: key {key!r} is not a layer index") from None
        if not 0 <= index < len(layers) or not layers[index].spiking:
            valid = [i for i, lay in enumerate(layers) if lay.spiking]
            raise ConfigError(
                f"{where}: layer index {index} is not a layer with neurons; valid indices: "
                f"{valid} (0 is the input layer)"
            )
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ConfigError(
                f"{where}: layer {index}: steps must be a non-negative integer, found {steps!r}"
            )
        clamp[layers[index].name] = steps
    return clamp
